//! The `[alerts]` section: where alerts go (Slack webhook, email — both named by
//! environment variables, never written here), how they are grouped and repeated
//! (Alertmanager's group wait, group interval, repeat interval), and each rule's
//! threshold. Every key has a default; a campaign without the section alerts with
//! them, to the sinks the environment names.

use std::time::Duration;

use serde::Deserialize;

use super::{Secret, parse_duration};

/// The rules a campaign can turn off by name (`disabled_rules`).
pub const RULES: [&str; 16] = [
    "throttling_storm",
    "breaker_open",
    "quota_exhausted",
    "vendor_down",
    "error_rate",
    "rate_below_plan",
    "vendor_yield_low",
    "duplicate_rate",
    "budget_80",
    "budget_100",
    "kpi_at_risk",
    "export_failures",
    "crash_resume",
    "milestone_50",
    "milestone_100",
    "run_complete",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertsFile {
    slack_webhook_env: Option<String>,
    smtp_url_env: Option<String>,
    smtp_password_env: Option<String>,
    email_to_env: Option<String>,
    email_from: Option<String>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    send_resolved: Option<bool>,
    email_digest: Option<String>,
    #[serde(default)]
    disabled_rules: Vec<String>,
    error_rate_percent: Option<f64>,
    error_rate_window: Option<String>,
    throttle_storm: Option<u64>,
    throttle_window: Option<String>,
    below_plan_for: Option<String>,
    below_plan_share: Option<f64>,
    duplicate_rate_percent: Option<f64>,
    budget_warn_percent: Option<f64>,
}

/// A sink's address: the variable that holds it and its value, if set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkAddress {
    pub env: String,
    pub value: Option<Secret>,
}

/// The validated `[alerts]` section. Durations are in vendor time, like every wait.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub slack_webhook: SinkAddress,
    pub smtp_url: SinkAddress,
    pub smtp_password: SinkAddress,
    /// Comma-separated addresses.
    pub email_to: SinkAddress,
    pub email_from: String,
    /// Wait before a new group's first notification (to gather its alerts).
    pub group_wait: Duration,
    /// Wait before notifying a group again about alerts added or resolved.
    pub group_interval: Duration,
    /// Re-send a group whose alerts still fire after this long.
    pub repeat_interval: Duration,
    pub send_resolved: bool,
    /// Info alerts go by email in one digest this often (pages and warnings at once).
    pub email_digest: Duration,
    pub disabled_rules: Vec<String>,
    pub error_rate_percent: f64,
    pub error_rate_window: Duration,
    pub throttle_storm: u64,
    pub throttle_window: Duration,
    pub below_plan_for: Duration,
    /// "Below plan" means under this share of the planned leads/hour.
    pub below_plan_share: f64,
    pub duplicate_rate_percent: f64,
    pub budget_warn_percent: f64,
}

impl AlertSettings {
    pub fn enabled(&self, rule: &str) -> bool {
        !self.disabled_rules.iter().any(|r| r == rule)
    }
}

pub(super) fn settings(
    file: AlertsFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AlertSettings, String> {
    let address = |name: Option<String>, default: &str| {
        let env_name = name.unwrap_or_else(|| default.to_owned());
        let value = env(&env_name).filter(|v| !v.trim().is_empty()).map(Secret::new);
        SinkAddress { env: env_name, value }
    };
    let duration = |text: Option<String>, key: &str, default: Duration| match text {
        None => Ok(default),
        Some(t) => parse_duration(&t).map_err(|e| format!("alerts.{key} = {t:?}: {e}")),
    };
    let percent = |value: Option<f64>, key: &str, default: f64| match value {
        None => Ok(default),
        Some(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v),
        Some(v) => Err(format!("alerts.{key} = {v} must be a percentage from 0 to 100")),
    };
    for rule in &file.disabled_rules {
        if !RULES.contains(&rule.as_str()) {
            return Err(format!(
                "alerts.disabled_rules names {rule:?}, which is no rule; the rules are {}",
                RULES.join(", ")
            ));
        }
    }
    let group_interval = duration(file.group_interval, "group_interval", Duration::from_secs(300))?;
    let repeat_interval = duration(file.repeat_interval, "repeat_interval", Duration::from_secs(4 * 3600))?;
    if group_interval.is_zero() || repeat_interval < group_interval {
        return Err(
            "alerts.repeat_interval must be at least alerts.group_interval, and that above zero".into()
        );
    }
    let share = file.below_plan_share.unwrap_or(0.8);
    if !(share.is_finite() && share > 0.0 && share <= 1.0) {
        return Err(format!("alerts.below_plan_share = {share} must be above 0 and at most 1"));
    }
    Ok(AlertSettings {
        slack_webhook: address(file.slack_webhook_env, "LEADSPRINT_SLACK_WEBHOOK_URL"),
        smtp_url: address(file.smtp_url_env, "LEADSPRINT_SMTP_URL"),
        smtp_password: address(file.smtp_password_env, "LEADSPRINT_SMTP_PASSWORD"),
        email_to: address(file.email_to_env, "LEADSPRINT_ALERT_EMAIL_TO"),
        email_from: file.email_from.unwrap_or_else(|| "leadsprint <leadsprint@localhost>".to_owned()),
        group_wait: duration(file.group_wait, "group_wait", Duration::from_secs(30))?,
        group_interval,
        repeat_interval,
        send_resolved: file.send_resolved.unwrap_or(true),
        email_digest: duration(file.email_digest, "email_digest", Duration::from_secs(3600))?,
        disabled_rules: file.disabled_rules,
        error_rate_percent: percent(file.error_rate_percent, "error_rate_percent", 5.0)?,
        error_rate_window: duration(file.error_rate_window, "error_rate_window", Duration::from_secs(300))?,
        throttle_storm: file.throttle_storm.unwrap_or(20).max(1),
        throttle_window: duration(file.throttle_window, "throttle_window", Duration::from_secs(300))?,
        below_plan_for: duration(file.below_plan_for, "below_plan_for", Duration::from_secs(900))?,
        below_plan_share: share,
        duplicate_rate_percent: percent(file.duplicate_rate_percent, "duplicate_rate_percent", 35.0)?,
        budget_warn_percent: percent(file.budget_warn_percent, "budget_warn_percent", 80.0)?,
    })
}
