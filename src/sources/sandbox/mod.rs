//! Sandbox vendors: an in-process HTTP server on 127.0.0.1 (port 0) that speaks
//! the vendors' documented API shapes over a seeded population, with realistic
//! overlap, partial records, injected faults and each vendor's rate limit enforced
//! (violations counted). Its clock can run faster (`speed`): rate limits, delays
//! and timeouts all scale together. It powers `leadsprint demo` and the tests.

mod apollo;
mod brightdata;
mod dns;
pub mod faults;
mod hunter;
pub mod population;

/// People in the sandbox's market by default (the demo's).
pub const DEMO_POPULATION: u32 = 60_000;
pub mod salesnav;
mod zerobounce;
mod zoominfo;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

use faults::{Fault, FaultRates, Window};
use population::{Population, SplitMix};

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub seed: u64,
    pub population: u32,
    /// Clock speed-up: 10 means ten sandbox seconds pass per real second.
    pub speed: f64,
    pub faults: FaultRates,
    /// Per vendor: requests per period, in sandbox time.
    pub limits: BTreeMap<&'static str, (u32, Duration)>,
    /// Calls a vendor allows per day before it answers "quota exhausted".
    pub daily_quota: Option<u64>,
    /// The API key every vendor accepts.
    pub api_key: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let limits = BTreeMap::from([
            ("apollo", (10, Duration::from_secs(1))),
            ("brightdata", (1, Duration::from_millis(1500))),
            ("zoominfo", (25, Duration::from_secs(1))),
            // Hunter: 15/s and 500/min for the finder (and the other lookups), 10/s and
            // 300/min for the verifier; Apollo's bulk organization enrichment runs at
            // half its single endpoint's 1,000/min.
            ("hunter", (15, Duration::from_secs(1))),
            ("hunter-minute", (500, Duration::from_secs(60))),
            ("hunter-verifier", (10, Duration::from_secs(1))),
            ("hunter-verifier-minute", (300, Duration::from_secs(60))),
            ("apollo-organizations", (500, Duration::from_secs(60))),
            ("zerobounce", (50, Duration::from_secs(1))),
        ]);
        SandboxConfig {
            seed: 42,
            population: DEMO_POPULATION,
            speed: 1.0,
            faults: FaultRates::NONE,
            limits,
            daily_quota: None,
            api_key: "sandbox-key".into(),
        }
    }
}

/// What the sandbox saw, per vendor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorCounters {
    pub requests: u64,
    pub rate_violations: u64,
    pub faults_injected: u64,
    /// Arrival times (since start) of every admitted request, for rate measurements.
    pub admitted_at: Vec<Duration>,
    /// What the vendor billed, in its unit: Bright Data records (at snapshot
    /// creation), Apollo and ZoomInfo credits.
    pub billed: u64,
}

pub(crate) struct State {
    pub config: SandboxConfig,
    pub population: Population,
    started: Instant,
    rng: Mutex<SplitMix>,
    windows: Mutex<BTreeMap<&'static str, Window>>,
    counters: Mutex<BTreeMap<&'static str, VendorCounters>>,
    brightdata: brightdata::Snapshots,
    zoominfo: zoominfo::Tokens,
    hunter: hunter::Accounts,
}

/// Why the shared checks refused a request.
pub(crate) enum Refusal {
    /// Over the rate limit: try again in this many (sandbox) seconds.
    OverLimit(u64),
    /// The daily quota is used up.
    Quota,
    Fault(Fault),
}

/// What the handlers do before answering: count, enforce the limit, draw a fault.
pub(crate) enum Gate {
    Proceed,
    Refuse(Response),
}

impl State {
    /// A real-time duration for a sandbox-time one.
    pub fn real(&self, sandbox: Duration) -> Duration {
        sandbox.div_f64(self.config.speed)
    }

    /// Runs the checks every request goes through, in the vendor's order: rate
    /// limit, daily quota, then any injected fault; refusals in the usual shapes.
    pub async fn gate(&self, vendor: &'static str) -> Gate {
        match self.check(vendor).await {
            Ok(()) => Gate::Proceed,
            Err(Refusal::OverLimit(secs)) => Gate::Refuse(throttled(Some(secs), "rate limit exceeded")),
            Err(Refusal::Quota) => Gate::Refuse(quota_exhausted(vendor)),
            Err(Refusal::Fault(f)) => Gate::Refuse(fault_response(f)),
        }
    }

    /// Counts a request to a twin without limits or faults of its own (DNS).
    pub fn tally(&self, vendor: &'static str) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.entry(vendor).or_default().requests += 1;
    }

    /// The same checks, the refusal left for a vendor that words it its own way.
    pub async fn check(&self, vendor: &'static str) -> Result<(), Refusal> {
        let now = Instant::now();
        let (requests, over_limit, fault) = {
            let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
            let c = counters.entry(vendor).or_default();
            c.requests += 1;
            let over_limit = self.admit(vendor, now);
            if over_limit.is_none() {
                c.admitted_at.push(now - self.started);
            } else {
                c.rate_violations += 1;
            }
            let fault =
                Fault::draw(&self.config.faults, &mut self.rng.lock().unwrap_or_else(|p| p.into_inner()));
            if fault.is_some() && over_limit.is_none() {
                c.faults_injected += 1;
            }
            (c.admitted_at.len() as u64, over_limit, fault)
        };
        if let Some(wait) = over_limit {
            let sandbox_secs = wait.mul_f64(self.config.speed).as_secs_f64().ceil().max(1.0) as u64;
            return Err(Refusal::OverLimit(sandbox_secs));
        }
        if self.config.daily_quota.is_some_and(|q| requests > q) {
            return Err(Refusal::Quota);
        }
        match fault {
            None => Ok(()),
            Some(Fault::Timeout) => {
                tokio::time::sleep(self.real(Duration::from_secs(120))).await;
                Err(Refusal::Fault(Fault::Timeout))
            }
            Some(f) => Err(Refusal::Fault(f)),
        }
    }

    /// Admits a request under a second limit of the vendor's (a per-minute one
    /// beside the per-second one); a refusal counts as a violation.
    pub fn within(&self, limit: &'static str, vendor: &'static str) -> Result<(), u64> {
        match self.admit(limit, Instant::now()) {
            None => Ok(()),
            Some(wait) => {
                self.violation(vendor);
                Err(wait.mul_f64(self.config.speed).as_secs_f64().ceil().max(1.0) as u64)
            }
        }
    }

    /// Counts a request refused for a limit of the vendor's own (not the shared window).
    pub fn violation(&self, vendor: &'static str) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.entry(vendor).or_default().rate_violations += 1;
    }

    /// Records what the vendor bills for a call.
    pub fn bill(&self, vendor: &'static str, units: u64) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.entry(vendor).or_default().billed += units;
    }

    /// What a vendor has billed so far.
    pub fn billed(&self, vendor: &str) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.get(vendor).map_or(0, |c| c.billed)
    }

    fn admit(&self, vendor: &'static str, now: Instant) -> Option<Duration> {
        let (requests, per) = *self.config.limits.get(vendor)?;
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = windows.entry(vendor).or_insert_with(|| Window::new(requests, self.real(per)));
        window.admit(now).err()
    }

    pub fn authorized(&self, key: Option<&HeaderValue>) -> bool {
        key.and_then(|k| k.to_str().ok()).is_some_and(|k| k == self.config.api_key)
    }
}

fn throttled(retry_after: Option<u64>, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(secs) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn quota_exhausted(vendor: &str) -> Response {
    let message = format!(
        "The maximum number of api calls allowed for {vendor} is reached for the day. Please upgrade your plan"
    );
    let mut response = throttled(Some(86_400), &message);
    response.headers_mut().insert("x-24-hour-requests-left", HeaderValue::from(0));
    response
}

fn fault_response(fault: Fault) -> Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    match fault {
        Fault::Throttle => throttled(Some(1), "Too many requests"),
        Fault::ThrottleBare => throttled(None, "Too many requests"),
        Fault::ServerError => {
            (StatusCode::INTERNAL_SERVER_ERROR, json, "{\"error\":\"internal\"}").into_response()
        }
        Fault::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response(),
        Fault::Malformed => (StatusCode::OK, json, "this is not json").into_response(),
        Fault::Truncated => (StatusCode::OK, json, "{\"people\":[{\"id\":\"6").into_response(),
        Fault::Html => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>502 Bad Gateway</body></html>",
        )
            .into_response(),
        Fault::Timeout => StatusCode::GATEWAY_TIMEOUT.into_response(),
    }
}

/// A running sandbox.
pub struct Sandbox {
    pub addr: SocketAddr,
    /// Where the sandbox's DNS server answers (UDP).
    pub dns: SocketAddr,
    state: Arc<State>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Generates the population and serves it on 127.0.0.1 at a free port.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        let population = Population::generate(config.seed, config.population);
        let rng = Mutex::new(SplitMix::new(config.seed ^ 0xFA17));
        let state = Arc::new(State {
            config,
            population,
            started: Instant::now(),
            rng,
            windows: Mutex::default(),
            counters: Mutex::default(),
            brightdata: brightdata::Snapshots::default(),
            zoominfo: zoominfo::Tokens::default(),
            hunter: hunter::Accounts::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let app = Router::new()
            .nest("/apollo/api/v1", apollo::router())
            .nest("/brightdata", brightdata::router())
            .nest("/zoominfo", zoominfo::router())
            .nest("/hunter/v2", hunter::router())
            .nest("/zerobounce/v2", zerobounce::router())
            .with_state(state.clone());
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let dns = udp.local_addr()?;
        tokio::spawn(dns::serve(udp, state.clone(), stop.clone()));
        let shutdown = stop.clone();
        let task = tokio::spawn(async move {
            let serve =
                axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await });
            if let Err(e) = serve.await {
                tracing::warn!("sandbox server stopped: {e}");
            }
        });
        Ok(Sandbox { addr, dns, state, stop, task })
    }

    /// The base URL a vendor's connector should use.
    pub fn base_url(&self, vendor: &str) -> String {
        match vendor {
            "apollo" => format!("http://{}/apollo/api/v1", self.addr),
            "hunter" | "zerobounce" => format!("http://{}/{vendor}/v2", self.addr),
            other => format!("http://{}/{other}", self.addr),
        }
    }

    /// The environment the built-in campaign sees against this sandbox (the
    /// demo's): every vendor's and provider's base URL points here, every
    /// credential is `key`.
    pub fn env(&self, key: &str, name: &str) -> Option<String> {
        for vendor in crate::config::VendorKind::ALL {
            if name == format!("LEADSPRINT_{}_BASE_URL", vendor.name().to_uppercase()) {
                return Some(self.base_url(vendor.name()));
            }
        }
        for provider in ["hunter", "zerobounce", "apollo"] {
            if name == format!("LEADSPRINT_{}_ENRICH_BASE_URL", provider.to_uppercase()) {
                return Some(self.base_url(provider));
            }
        }
        if name == "LEADSPRINT_DNS_SERVER" {
            return Some(self.dns.to_string());
        }
        if name.ends_with("_API_KEY") || name.ends_with("_PASSWORD") {
            return Some(key.to_owned());
        }
        if name.ends_with("_USERNAME") {
            return Some("sandbox".to_owned());
        }
        None
    }

    pub fn population(&self) -> &Population {
        &self.state.population
    }

    pub fn counters(&self, vendor: &str) -> VendorCounters {
        let counters = self.state.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.get(vendor).cloned().unwrap_or_default()
    }

    /// Hunter's finder requests so far (`first|last|domain` or `first|last|company:name`,
    /// lower case), for tests that count what was asked twice.
    pub fn hunter_finder_requests(&self) -> Vec<String> {
        self.state.hunter.asked()
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests;
