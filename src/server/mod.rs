//! The HTTP server (the only user of axum): the web UI (plain files from `web/`,
//! embedded), the JSON API under `/api/`, live events, `/metrics`, `/healthz`, and
//! the guards every request passes — Host (DNS rebinding), Origin on
//! state-changing requests and event streams, the access token when bound beyond
//! loopback, body size. It reads through the store's and the index's readers and
//! writes only through the pipeline's single writer (uploads).

mod api;
mod assets;
mod guard;
mod identity;
mod live;
mod metrics;
mod transfer;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::sync::watch;

use crate::enrich::runner::EnrichStats;

use crate::config::{Kpi, Secret, Settings};
use crate::engine::Control;
use crate::engine::stats::RunStats;
use crate::pipeline::IntakeSender;
use crate::search::SearchIndex;
use crate::store::Store;

pub use guard::generate_token;
pub use live::Live;

/// Largest request body accepted (an upload of leads is the largest legitimate one).
pub const MAX_BODY: usize = 64 << 20;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub index: Arc<SearchIndex>,
    pub access: Arc<Access>,
    /// The single writer, for uploads; `None` = read-only server.
    pub intake: Option<IntakeSender>,
    /// The sprint running in this process, if any.
    pub sprint: Option<Arc<Sprint>>,
    pub live: Arc<Live>,
}

impl AppState {
    /// A read-only server over `store` and `index` for `campaign`.
    pub fn new(store: Arc<Store>, index: Arc<SearchIndex>, access: Access, campaign: Campaign) -> AppState {
        let live = Arc::new(Live::new(campaign));
        AppState { store, index, access: Arc::new(access), intake: None, sprint: None, live }
    }

    /// Uploads go to this writer.
    pub fn with_intake(mut self, intake: IntakeSender) -> AppState {
        self.intake = Some(intake);
        self
    }

    /// The dashboard follows this sprint, and its workflows can be paused.
    pub fn with_sprint(mut self, sprint: Arc<Sprint>) -> AppState {
        self.sprint = Some(sprint);
        self
    }
}

/// What the dashboard measures against: the campaign's target, KPI thresholds and
/// workflows (name, vendor).
#[derive(Debug, Clone, Default)]
pub struct Campaign {
    pub name: String,
    pub target: u64,
    /// Dollars vendors and enrichment may spend (the report's budget line).
    pub vendor_cap: f64,
    pub enrichment_cap: Option<f64>,
    pub kpi: Kpi,
    pub workflows: Vec<(String, String)>,
}

impl Campaign {
    pub fn of(settings: &Settings) -> Campaign {
        Campaign {
            name: settings.name.clone(),
            target: settings.target,
            vendor_cap: settings.spend_cap,
            enrichment_cap: settings.enrichment.enabled.then_some(settings.enrichment.spend_cap),
            kpi: settings.kpi.clone(),
            workflows: settings
                .workflows
                .iter()
                .map(|w| (w.name.clone(), w.vendor.name().to_owned()))
                .collect(),
        }
    }
}

/// A sprint running beside the server: its progress, and its controls once the
/// engine has planned its workflows.
pub struct Sprint {
    pub mode: &'static str,
    pub stats: watch::Receiver<RunStats>,
    control: OnceLock<Control>,
    /// The enrichment stage's progress, and its pause switch.
    pub enrichment: Option<(watch::Receiver<EnrichStats>, watch::Sender<bool>)>,
}

impl Sprint {
    pub fn new(mode: &'static str, stats: watch::Receiver<RunStats>) -> Sprint {
        Sprint { mode, stats, control: OnceLock::new(), enrichment: None }
    }

    /// With the enrichment stage's progress and pause switch.
    pub fn with_enrichment(
        mut self,
        stats: watch::Receiver<EnrichStats>,
        pause: watch::Sender<bool>,
    ) -> Sprint {
        self.enrichment = Some((stats, pause));
        self
    }

    /// Hands over the engine's controls (pause/resume become possible).
    pub fn set_control(&self, control: Control) {
        let _ = self.control.set(control);
    }

    pub fn control(&self) -> Option<&Control> {
        self.control.get()
    }
}

/// Who may talk to the server: the Host names it answers to, and the token a
/// non-loopback bind requires.
#[derive(Debug)]
pub struct Access {
    hosts: Vec<String>,
    token: Option<Secret>,
}

impl Access {
    /// For a server bound to `addr`: loopback names always, the bound address itself,
    /// and a token (required when `addr` is not loopback).
    pub fn new(addr: SocketAddr, token: Option<Secret>) -> Access {
        let port = addr.port();
        let mut hosts =
            vec![format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")];
        let bound = match addr {
            SocketAddr::V4(a) => format!("{}:{port}", a.ip()),
            SocketAddr::V6(a) => format!("[{}]:{port}", a.ip()),
        };
        if !hosts.contains(&bound) && !addr.ip().is_unspecified() {
            hosts.push(bound);
        }
        Access { hosts, token }
    }

    /// Also answer to `host` (`name:port`), e.g. the machine's name on a LAN bind.
    pub fn allow_host(mut self, host: &str) -> Access {
        self.hosts.push(host.to_ascii_lowercase());
        self
    }

    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }
}

/// An error answer: `{"error": message}` with `status` (the message says what went
/// wrong and what to do).
pub(crate) fn error(status: axum::http::StatusCode, message: impl Into<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// What to do once the writer has stopped (the disk filled up, say).
pub(crate) const WRITER_STOPPED_HINT: &str = "fix the cause (free disk space, say) and restart leadsprint: \
     every committed lead is kept, and sending the same leads again is safe (they merge)";

impl AppState {
    /// Why new leads can no longer be stored, once the writer has failed.
    pub fn writer_failure(&self) -> Option<String> {
        self.intake.as_ref().and_then(|i| i.failure()).map(|r| format!("new leads cannot be stored: {r}"))
    }
}

/// The application: every route behind the guards. No I/O here.
pub fn router(state: AppState) -> Router {
    let access = state.access.clone();
    Router::new()
        .merge(api::routes())
        .merge(transfer::routes())
        .merge(identity::routes())
        .merge(metrics::routes())
        .fallback(assets::serve)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(access, guard::check))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// Serves `router(state)` on an already-bound listener until `shutdown` resolves;
/// the dashboard's snapshots are refreshed meanwhile.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ticker = tokio::spawn(live::run(state.clone()));
    let live = state.live.clone();
    // Event streams never end by themselves; graceful shutdown waits for them.
    let shutdown = async move {
        shutdown.await;
        live.close();
    };
    let served = axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await;
    ticker.abort();
    served
}
