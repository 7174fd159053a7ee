//! The HTTP server (the only user of axum): the JSON API under `/api/`, `/healthz`,
//! and the guards every request passes — Host (DNS rebinding), Origin on
//! state-changing requests, the access token when bound beyond loopback, body size.
//! It only reads: the store and the search index through their readers.

mod api;
mod guard;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::config::Secret;
use crate::search::SearchIndex;
use crate::store::Store;

pub use guard::generate_token;

/// Largest request body accepted (an upload of leads is the largest legitimate one).
pub const MAX_BODY: usize = 64 << 20;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub index: Arc<SearchIndex>,
    pub access: Arc<Access>,
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

/// The application: every route behind the guards. No I/O here.
pub fn router(state: AppState) -> Router {
    let access = state.access.clone();
    Router::new()
        .merge(api::routes())
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(access, guard::check))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// Serves `router(state)` on an already-bound listener until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
