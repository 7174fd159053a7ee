//! The HTTP client every vendor connector and CRM exporter shares: reqwest over rustls (ring), a governor
//! limiter per vendor account (requests evenly spaced, never a burst over the
//! limit), up to [`MAX_ATTEMPTS`] attempts with jittered exponential backoff on
//! 429, 5xx, timeouts, connection errors and garbage bodies, `Retry-After` (seconds
//! or HTTP-date) honoured, and errors typed so a workflow can tell "retry later"
//! from "quota exhausted" and "bad credentials".

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::config::Rate;

/// Attempts per request (the first and two retries).
pub const MAX_ATTEMPTS: u32 = 3;
/// Backoff before retry n is `BACKOFF_BASE * 2^(n-1)`, ±20 % jitter: 1 s, 2 s (then
/// the page fails; the workflow waits 4 s before trying it again).
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// A `Retry-After` longer than this fails the request instead of stalling it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

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

/// Why a vendor request failed, as a workflow needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("throttled (429){}", retry_note(.retry_after))]
    Throttled { retry_after: Option<Duration> },
    #[error("quota exhausted: {0}")]
    QuotaExhausted(String),
    /// Our own spend cap, reached before the vendor could bill more.
    #[error("spend cap reached: {0}; raise the cap to go on")]
    SpendCap(String),
    #[error("credentials refused ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("request refused ({status}): {body}")]
    Rejected { status: u16, body: String },
    #[error("server error ({status})")]
    Server { status: u16 },
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("unreadable response ({detail}); body starts {snippet:?}")]
    Garbage { detail: String, snippet: String },
}

fn retry_note(after: &Option<Duration>) -> String {
    after.map(|d| format!(", retry after {:.1} s", d.as_secs_f64())).unwrap_or_default()
}

impl FetchError {
    /// Worth another attempt of the same request.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FetchError::Throttled { .. }
                | FetchError::Server { .. }
                | FetchError::Timeout
                | FetchError::Connect(_)
                | FetchError::Garbage { .. }
        )
    }

    /// Stops every workflow of this vendor (not just the page).
    pub fn stops_vendor(&self) -> bool {
        matches!(self, FetchError::QuotaExhausted(_) | FetchError::Unauthorized { .. })
    }

    /// Ends this workflow for the run, without a retry: what it has bought stays
    /// its own (a Bright Data snapshot already paid for is still downloaded by
    /// the workflow that holds it).
    pub fn ends_workflow(&self) -> bool {
        matches!(self, FetchError::SpendCap(_))
    }

    /// A short label for per-kind error counts.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Throttled { .. } => "throttled",
            FetchError::QuotaExhausted(_) => "quota",
            FetchError::SpendCap(_) => "spend_cap",
            FetchError::Unauthorized { .. } => "auth",
            FetchError::Rejected { .. } => "rejected",
            FetchError::Server { .. } => "server",
            FetchError::Timeout => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::Garbage { .. } => "garbage",
        }
    }
}

/// Counters a workflow keeps of its requests.
#[derive(Debug, Default)]
pub struct RequestMetrics {
    pub requests: AtomicU64,
    pub successes: AtomicU64,
    pub retries: AtomicU64,
    pub failures: AtomicU64,
    /// Answers 429 (throttled), retried or not.
    pub throttled: AtomicU64,
    pub latency_micros: AtomicU64,
    /// Time spent waiting for the rate limiter.
    pub limiter_wait_micros: AtomicU64,
    /// Requests the rate limiter held back (waited over a millisecond).
    pub limiter_waits: AtomicU64,
}

/// Turns a vendor's non-2xx (or odd 2xx) answer into its error, where the generic
/// reading would be wrong (quota messages, auth shapes). `None` = use the default.
pub type Classify = fn(u16, &HeaderMap, &[u8]) -> Option<FetchError>;

/// One vendor account: its HTTP client, its limiter, its clock speed.
#[derive(Clone)]
pub struct VendorClient {
    pub vendor: &'static str,
    base_url: String,
    http: reqwest::Client,
    limiter: Arc<DefaultDirectRateLimiter>,
    /// A limit of its own for the calls that authenticate, when the vendor limits
    /// them apart (ZoomInfo: `/authenticate` once a second); shared like `limiter`.
    auth_limiter: Option<Arc<DefaultDirectRateLimiter>>,
    /// Vendor time runs this many times faster than real time (the sandbox's speed).
    speed: f64,
    /// 429s the account may collect in a window before it stops sending until the
    /// window clears (Bright Data blocks the caller's IP after 25 in 5 minutes).
    throttle_guard: Option<Arc<ThrottleGuard>>,
}

/// Remembers recent 429s and holds requests back before a vendor's block threshold.
#[derive(Debug)]
pub struct ThrottleGuard {
    max: usize,
    window: Duration,
    seen: std::sync::Mutex<std::collections::VecDeque<Instant>>,
}

impl ThrottleGuard {
    pub fn new(max: usize, window: Duration) -> Self {
        ThrottleGuard { max: max.max(1), window, seen: std::sync::Mutex::default() }
    }

    fn record(&self) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push_back(Instant::now());
    }

    /// How long to hold the next request back (zero when under the threshold).
    pub fn hold(&self) -> Duration {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        while seen.front().is_some_and(|t| t.elapsed() >= self.window) {
            seen.pop_front();
        }
        match seen.front() {
            Some(oldest) if seen.len() >= self.max => self.window.saturating_sub(oldest.elapsed()),
            _ => Duration::ZERO,
        }
    }
}

/// The shortest real wait for an answer when the clock runs fast: speed
/// compresses the vendor's clock, not this machine's, and a local answer on a busy
/// machine can take tens of milliseconds.
const MIN_REAL_TIMEOUT: Duration = Duration::from_secs(1);

/// The real-time timeout for a vendor-time one at clock `speed`: scaled, but never
/// below a second (or the configured timeout, when that is shorter).
fn real_timeout(timeout: Duration, speed: f64) -> Duration {
    timeout.div_f64(speed).max(timeout.min(MIN_REAL_TIMEOUT))
}

/// Requests are spaced this much wider than a vendor's limit, so arrival jitter
/// of a few milliseconds never crosses it at the server.
pub const LIMIT_MARGIN: f64 = 1.02;

/// A limiter allowing `rate` (vendor time) at clock `speed`, no burst.
fn spaced_limiter(rate: Rate, speed: f64) -> Arc<DefaultDirectRateLimiter> {
    let spacing = (rate.per / rate.requests.max(1)).mul_f64(LIMIT_MARGIN).div_f64(speed);
    let quota = Quota::with_period(spacing.max(Duration::from_micros(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::MIN);
    Arc::new(RateLimiter::direct(quota))
}

impl VendorClient {
    /// A client allowed `rate` (in vendor time) at clock `speed`. Requests are
    /// spaced 2 % wider than the limit, so arrival jitter of a few
    /// milliseconds never crosses it at the server.
    pub fn new(
        vendor: &'static str,
        base_url: &str,
        rate: Rate,
        timeout: Duration,
        speed: f64,
    ) -> Result<Self, reqwest::Error> {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 1.0 };
        Ok(VendorClient {
            vendor,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: http(real_timeout(timeout, speed))?,
            limiter: spaced_limiter(rate, speed),
            auth_limiter: None,
            speed,
            throttle_guard: None,
        })
    }

    /// Gives authentication calls a limit of their own (see [`VendorClient::for_auth`]).
    pub fn with_auth_limit(mut self, rate: Rate) -> Self {
        self.auth_limiter = Some(spaced_limiter(rate, self.speed));
        self
    }

    /// This account's client for authenticating: under the authentication limit
    /// when it has one (and not counted against the data limit), else the same.
    pub fn for_auth(&self) -> VendorClient {
        let mut client = self.clone();
        if let Some(limiter) = &self.auth_limiter {
            client.limiter = limiter.clone();
        }
        client
    }

    /// Holds requests back once `max` 429s arrived within `window` (vendor time).
    pub fn with_throttle_guard(mut self, max: usize, window: Duration) -> Self {
        self.throttle_guard = Some(Arc::new(ThrottleGuard::new(max, self.real(window))));
        self
    }

    /// The vendor's API root, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A real-time duration for a vendor-time one.
    pub fn real(&self, vendor_time: Duration) -> Duration {
        vendor_time.div_f64(self.speed)
    }

    /// Sends the request `make` builds (again for each attempt), under the rate
    /// limit, retrying what is worth retrying, and parses the JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        metrics: &RequestMetrics,
        classify: Classify,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<T, FetchError> {
        self.request(metrics, classify, make, |_, body| {
            serde_json::from_slice(body)
                .map_err(|e| FetchError::Garbage { detail: e.to_string(), snippet: snippet(body) })
        })
        .await
    }

    /// As [`VendorClient::json`], with the success status beside the JSON (APIs
    /// that say "still working" with a 202, as Hunter's verifier does).
    pub async fn json_with_status<T: DeserializeOwned>(
        &self,
        metrics: &RequestMetrics,
        classify: Classify,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<(u16, T), FetchError> {
        self.request(metrics, classify, make, |status, body| {
            let body = if body.is_empty() { b"null".as_slice() } else { body };
            serde_json::from_slice(body)
                .map(|value| (status, value))
                .map_err(|e| FetchError::Garbage { detail: e.to_string(), snippet: snippet(body) })
        })
        .await
    }

    /// As [`VendorClient::json`], for answers that are not JSON (CSV, empty bodies).
    pub async fn text(
        &self,
        metrics: &RequestMetrics,
        classify: Classify,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<String, FetchError> {
        self.request(metrics, classify, make, |_, body| Ok(String::from_utf8_lossy(body).into_owned())).await
    }

    async fn request<T>(
        &self,
        metrics: &RequestMetrics,
        classify: Classify,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        parse: impl Fn(u16, &[u8]) -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        let mut attempt = 1;
        loop {
            let waited = Instant::now();
            if let Some(guard) = &self.throttle_guard {
                let hold = guard.hold();
                if !hold.is_zero() {
                    tracing::warn!(
                        vendor = self.vendor,
                        "too many 429s lately: holding requests for {hold:?}"
                    );
                    tokio::time::sleep(hold).await;
                }
            }
            self.limiter.until_ready().await;
            let held = waited.elapsed().as_micros() as u64;
            metrics.limiter_wait_micros.fetch_add(held, Ordering::Relaxed);
            if held > 1_000 {
                metrics.limiter_waits.fetch_add(1, Ordering::Relaxed);
            }
            metrics.requests.fetch_add(1, Ordering::Relaxed);
            let result = self.once(metrics, classify, make(&self.http), &parse).await;
            let error = match result {
                Ok(value) => {
                    metrics.successes.fetch_add(1, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(e) => e,
            };
            if let FetchError::Throttled { .. } = &error {
                metrics.throttled.fetch_add(1, Ordering::Relaxed);
                if let Some(guard) = &self.throttle_guard {
                    guard.record();
                }
            }
            let wait = match &error {
                FetchError::Throttled { retry_after: Some(after) } if *after > MAX_RETRY_AFTER => None,
                FetchError::Throttled { retry_after: Some(after) } => Some(*after),
                e if e.is_retryable() => Some(backoff(attempt)),
                _ => None,
            };
            match wait {
                Some(wait) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(vendor = self.vendor, attempt, error = %error, "retrying in {wait:?} (vendor time)");
                    metrics.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.real(wait)).await;
                    attempt += 1;
                }
                _ => {
                    metrics.failures.fetch_add(1, Ordering::Relaxed);
                    return Err(error);
                }
            }
        }
    }

    async fn once<T>(
        &self,
        metrics: &RequestMetrics,
        classify: Classify,
        request: reqwest::RequestBuilder,
        parse: &impl Fn(u16, &[u8]) -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        let started = Instant::now();
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport_error)?;
        metrics.latency_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if let Some(error) = classify(status, &headers, &body) {
            return Err(error);
        }
        if !(200..300).contains(&status) {
            return Err(default_error(status, &headers, &body));
        }
        parse(status, &body).inspect_err(|error| {
            // Retried; the workflow logs it at warn if the page fails.
            tracing::debug!(vendor = self.vendor, "{error}");
        })
    }
}

fn transport_error(e: reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout
    } else if e.is_connect() {
        FetchError::Connect(e.to_string())
    } else if e.is_body() || e.is_decode() {
        FetchError::Garbage { detail: e.to_string(), snippet: String::new() }
    } else {
        FetchError::Connect(e.to_string())
    }
}

/// A [`Classify`] for APIs whose answers all read the common way ([`default_error`]).
pub fn standard_errors(_: u16, _: &HeaderMap, _: &[u8]) -> Option<FetchError> {
    None
}

/// The reading of a status code that holds for every vendor.
pub fn default_error(status: u16, headers: &HeaderMap, body: &[u8]) -> FetchError {
    match status {
        429 => FetchError::Throttled { retry_after: retry_after(headers, SystemTime::now()) },
        401 | 403 => FetchError::Unauthorized { status, message: snippet(body) },
        500..=599 => FetchError::Server { status },
        _ => FetchError::Rejected { status, body: snippet(body) },
    }
}

/// The first 120 characters of a body, for logs and error messages.
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned()
}

/// `Retry-After` as seconds or an HTTP-date (relative to `now`).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Backoff before the retry that follows attempt `attempt`: 1 s, 2 s, 4 s …, ±20 %.
pub fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_BASE * 2u32.saturating_pow(attempt.saturating_sub(1));
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = 0.8 + (xxhash_rust::xxh3::xxh3_64(&nanos.to_le_bytes()) % 401) as f64 / 1000.0;
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    #[test]
    fn a_fast_clock_scales_the_timeout_down_to_a_second_at_least() {
        let secs = Duration::from_secs;
        assert_eq!(real_timeout(secs(30), 1.0), secs(30));
        assert_eq!(real_timeout(secs(30), 10.0), secs(3));
        assert_eq!(real_timeout(secs(30), 2000.0), secs(1), "15 ms would time out a busy machine");
        assert_eq!(real_timeout(Duration::from_millis(200), 1.0), Duration::from_millis(200));
        assert_eq!(real_timeout(Duration::from_millis(200), 100.0), Duration::from_millis(200));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        let cases = [
            ("3", Some(Duration::from_secs(3))),
            ("0.5", Some(Duration::from_millis(500))),
            ("Wed, 21 Oct 2026 07:28:10 GMT", Some(Duration::from_secs(10))),
            ("Wed, 21 Oct 2026 07:27:00 GMT", Some(Duration::ZERO)),
            ("soon", None),
            ("-1", None),
            ("1e20", None),
            ("NaN", None),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            assert_eq!(retry_after(&headers, now), want, "Retry-After: {value}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        for (attempt, base) in [(1, 1.0), (2, 2.0), (3, 4.0)] {
            let d = backoff(attempt).as_secs_f64();
            assert!(d >= base * 0.8 && d <= base * 1.2, "attempt {attempt}: {d}");
        }
    }

    #[test]
    fn throttle_guard_holds_at_its_threshold() {
        let guard = ThrottleGuard::new(2, Duration::from_secs(60));
        assert_eq!(guard.hold(), Duration::ZERO);
        guard.record();
        assert_eq!(guard.hold(), Duration::ZERO);
        guard.record();
        let hold = guard.hold();
        assert!(hold > Duration::from_secs(59) && hold <= Duration::from_secs(60), "{hold:?}");
    }

    #[test]
    fn statuses_map_to_kinds() {
        let h = HeaderMap::new();
        assert_eq!(default_error(429, &h, b"").kind(), "throttled");
        assert_eq!(default_error(401, &h, b"no").kind(), "auth");
        assert_eq!(default_error(503, &h, b"").kind(), "server");
        assert_eq!(default_error(422, &h, b"bad").kind(), "rejected");
        assert!(default_error(503, &h, b"").is_retryable());
        assert!(!default_error(422, &h, b"").is_retryable());
        assert!(default_error(403, &h, b"").stops_vendor());
    }
}
