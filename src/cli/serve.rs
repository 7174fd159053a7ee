//! `leadsprint serve`: the HTTP API over a data dir. Binds 127.0.0.1:8080 unless told
//! otherwise; any other address requires an access token (given, or generated and
//! printed once with the URL). The address — never the token — is recorded in
//! `<data dir>/server.json` while it runs.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use leadsprint::config::Secret;
use leadsprint::pipeline::Writer;
use leadsprint::server::{self, Access, AppState};
use leadsprint::store::Store;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on; anything but loopback requires a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The access token for a non-loopback bind (generated and printed when absent).
    #[arg(long, env = "LEADSPRINT_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub fn serve(dir: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let writer = Writer::new(Store::open(dir)?)?;
    let token = match (&args.token, args.bind.ip().is_loopback()) {
        (Some(t), _) if t.len() < 16 => anyhow::bail!("--token must be at least 16 characters"),
        (Some(t), _) => Some(t.clone()),
        (None, true) => None,
        (None, false) => Some(server::generate_token()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind).await.with_context(|| {
            format!("cannot listen on {}: is another server using it? try --bind 127.0.0.1:8081", args.bind)
        })?;
        let addr = listener.local_addr()?;
        let access = Access::new(addr, token.clone().map(Secret::new));
        let state =
            AppState { store: writer.shared_store(), index: writer.search_index(), access: Arc::new(access) };
        let url = format!("http://{addr}/");
        record(dir, &url)?;
        match (&token, args.token.is_some()) {
            (Some(t), false) => println!("leadsprint serving {url}?token={t}  (this token is shown once)"),
            (Some(_), true) => println!("leadsprint serving {url} (access token required)"),
            (None, _) => println!("leadsprint serving {url}"),
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let served = server::serve(listener, state, shutdown).await;
        let _ = std::fs::remove_file(dir.join(SERVER_FILE));
        served.context("serving")
    })?;
    writer.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// Where a running server records its address (never its token).
pub const SERVER_FILE: &str = "server.json";

fn record(dir: &Path, url: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({ "url": url, "pid": std::process::id() });
    std::fs::write(dir.join(SERVER_FILE), body.to_string())
        .with_context(|| format!("writing {}", dir.display()))
}
