//! `leadsprint serve`, and the web server `demo` starts beside its sprint. Binds
//! 127.0.0.1:8080 unless told otherwise; any other address requires an access
//! token (given, or generated and printed once with the URL). The address — never
//! the token — is recorded in `<data dir>/server.json` while it runs, so other
//! commands on the same data dir reach it instead of failing on the lock.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use leadsprint::config::Secret;
use leadsprint::pipeline::{Intake, Writer};
use leadsprint::server::{self, Access, AppState, Campaign};
use leadsprint::store::Store;

/// Where and how the web server listens.
#[derive(Debug, Clone, Args)]
pub struct BindArgs {
    /// Address and port to listen on (port 0: any free port); anything but loopback requires a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The access token for a non-loopback bind (generated and printed when absent).
    #[arg(long, env = "LEADSPRINT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    bind: BindArgs,
}

pub fn serve(dir: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let intake = Intake::start(Writer::new(Store::open(dir)?)?);
    let campaign = Campaign::of(&super::collect::builtin_settings()?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = runtime.block_on(async {
        let state = |access| {
            AppState::new(intake.store(), intake.index(), access, campaign).with_intake(intake.sender())
        };
        let server = Server::start(dir, &args.bind, state).await?;
        let _ = tokio::signal::ctrl_c().await;
        server.stop().await
    });
    intake.finish()?;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// A running web server.
pub struct Server {
    pub url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    record: PathBuf,
}

impl Server {
    /// Binds, records the address in the data dir, prints the URL and serves the
    /// state `build` makes for the bound address.
    pub async fn start(
        dir: &Path,
        args: &BindArgs,
        build: impl FnOnce(Access) -> AppState,
    ) -> anyhow::Result<Server> {
        let token = token(args)?;
        let listener = tokio::net::TcpListener::bind(args.bind).await.with_context(|| {
            format!("cannot listen on {}: is another server using it? try --bind 127.0.0.1:8081", args.bind)
        })?;
        let addr = listener.local_addr()?;
        let state = build(Access::new(addr, token.clone().map(Secret::new)));
        let url = format!("http://{addr}/");
        let record = dir.join(SERVER_FILE);
        let body = serde_json::json!({ "url": url, "pid": std::process::id() });
        std::fs::write(&record, body.to_string()).with_context(|| format!("writing {}", record.display()))?;
        match (&token, args.token.is_some()) {
            (Some(t), false) => println!("leadsprint serving {url}?token={t}  (this token is shown once)"),
            (Some(_), true) => println!("leadsprint serving {url} (access token required)"),
            (None, _) => println!("leadsprint serving {url}"),
        }
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(server::serve(listener, state, async move { stopped.cancelled().await }));
        Ok(Server { url, stop, task, record })
    }

    /// Stops serving (open event streams end; a request still running after
    /// [`STOP_GRACE`] is cut off) and removes the address record.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        let served = match tokio::time::timeout(STOP_GRACE, &mut self.task).await {
            Ok(served) => served,
            Err(_) => {
                self.task.abort();
                Ok(Ok(()))
            }
        };
        let _ = std::fs::remove_file(&self.record);
        served.context("the web server task failed")?.context("serving")
    }
}

/// The token this bind needs: the given one, or a generated one beyond loopback.
fn token(args: &BindArgs) -> anyhow::Result<Option<String>> {
    Ok(match (&args.token, args.bind.ip().is_loopback()) {
        (Some(t), _) if t.len() < 16 => anyhow::bail!("--token must be at least 16 characters"),
        (Some(t), _) => Some(t.clone()),
        (None, true) => None,
        (None, false) => Some(server::generate_token()?),
    })
}

/// How long requests in flight (a download, say) may finish once the server stops.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a running server records its address (never its token).
pub const SERVER_FILE: &str = "server.json";
