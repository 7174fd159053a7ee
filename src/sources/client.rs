//! The HTTP client every connector shares: reqwest over rustls (ring), built once
//! per vendor with its timeout.

use std::time::Duration;

/// Builds a client with the given per-request timeout. Installs the TLS crypto
/// provider on first use.
pub fn http(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // Ignored when already installed (a second client, another test).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("leadsprint/", env!("CARGO_PKG_VERSION")))
        .build()
}
