//! `leadsprint alerts test`: one test notice to every configured alert sink.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use leadsprint::alerts::Alerting;
use leadsprint::config::Flags;
use leadsprint::store::Store;

use super::collect::load_settings;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test alert to the Slack webhook and the email address configured
    /// (LEADSPRINT_SLACK_WEBHOOK_URL, LEADSPRINT_SMTP_URL + LEADSPRINT_ALERT_EMAIL_TO).
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Campaign file (TOML) whose [alerts] section names the sinks.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn alerts(dir: &Path, command: AlertsCommand) -> anyhow::Result<ExitCode> {
    let AlertsCommand::Test(args) = command;
    let env = |name: &str| std::env::var(name).ok();
    let settings = load_settings(args.config.as_deref(), &env, &Flags::default())?;
    let a = &settings.alerts;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = std::sync::Arc::new(Store::open(dir)?);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut alerting = Alerting::open(&settings, store, 1.0)?;
    if alerting.sink_statuses().is_empty() {
        println!(
            "no alert sink configured: set {} for Slack, or {} and {} for email",
            a.slack_webhook.env, a.smtp_url.env, a.email_to.env
        );
        return Ok(ExitCode::from(1));
    }
    let deliveries = runtime.block_on(alerting.test())?;
    let mut failed = false;
    for status in alerting.sink_statuses() {
        if let Some(why) = &status.disabled {
            failed = true;
            println!("OFF  {:<6} disabled: {why}", status.sink);
        }
    }
    for d in deliveries {
        failed |= !d.ok;
        let detail = d.detail.unwrap_or_else(|| "test alert delivered".to_owned());
        println!("{} {:<6} {detail}", if d.ok { "ok  " } else { "FAIL" }, d.sink);
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
