//! The checks every request passes before a handler sees it:
//! - the access token, when the server requires one (bound beyond loopback):
//!   `Authorization: Bearer`, the `leadsprint_token` cookie or `?token=`, compared in
//!   constant time; without it, 401;
//! - the Host header, when no token is required: only the names the server was bound
//!   as (a DNS-rebinding page's requests carry the attacker's host name), else 421;
//! - the Origin of state-changing requests and event streams, when sent: it must be
//!   this server, else 403 (a cross-site form or fetch).
//!
//! A token that came in the URL is set as an HttpOnly, same-site cookie, so the
//! page it opened can call the API without holding it; opening `/?token=…` then
//! redirects to `/`, taking the token out of the address bar. Every response carries the
//! security headers: the Content-Security-Policy (no inline script, nothing from
//! elsewhere), no framing, no sniffing, no referrer (a token-bearing URL must not
//! leak through links).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use subtle::ConstantTimeEq;

use super::Access;

/// The system's random source failed: no token can be made.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed; cannot make an access token (pass one with --token)")]
pub struct NoRandomness;

/// A 256-bit random token, URL-safe.
pub fn generate_token() -> Result<String, NoRandomness> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| NoRandomness)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub async fn check(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    let host = header_text(&request, header::HOST).to_ascii_lowercase();
    if let Some(token) = &access.token {
        if !carries(&request, token.expose()) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "this server needs its access token: Authorization: Bearer <token>, or open the URL printed at start-up",
            );
        }
    } else if !access.hosts.contains(&host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown Host: open the server by the address it printed",
        );
    }
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let streams = request.uri().path() == "/api/events";
    if changes_state || streams {
        let origin = header_text(&request, header::ORIGIN).to_ascii_lowercase();
        let same =
            origin.is_empty() || origin == format!("http://{host}") || origin == format!("https://{host}");
        if !same {
            return refuse(StatusCode::FORBIDDEN, "cross-site request refused: Origin is not this server");
        }
    }
    let token_in_url = access.token.is_some() && query_token(&request).is_some();
    // The printed URL opens the page once: answer with the cookie and send the browser
    // on to the bare address, so the token leaves the address bar and history.
    let opens_page = token_in_url && request.method() == Method::GET && request.uri().path() == "/";
    let mut response = match opens_page {
        true => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
        false => next.run(request).await,
    };
    if token_in_url && let Some(token) = &access.token {
        let cookie = format!("leadsprint_token={}; HttpOnly; SameSite=Strict; Path=/", token.expose());
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    secure(response)
}

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn query_token(request: &Request) -> Option<&str> {
    request.uri().query().unwrap_or_default().split('&').find_map(|p| p.strip_prefix("token="))
}

fn header_text(request: &Request, name: header::HeaderName) -> String {
    request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// Whether the request carries `token` (header, cookie or query), compared in constant time.
fn carries(request: &Request, token: &str) -> bool {
    let bearer = header_text(request, header::AUTHORIZATION);
    let cookie = header_text(request, header::COOKIE);
    let from_cookie = cookie.split(';').filter_map(|c| c.trim().strip_prefix("leadsprint_token="));
    let offered = bearer.strip_prefix("Bearer ").into_iter().chain(from_cookie).chain(query_token(request));
    let mut found = false;
    for candidate in offered {
        found |= token.len() >= 16 && bool::from(candidate.as_bytes().ct_eq(token.as_bytes()));
    }
    found
}

fn refuse(status: StatusCode, message: &str) -> Response {
    secure(super::error(status, message))
}
