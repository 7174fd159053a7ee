//! Connectors against their sandbox twins: paging to exhaustion, field mapping,
//! faults survived, auth and quota stop the vendor, and the rate limit measured at
//! the server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use leadsprint::config::{ApolloQuery, Costs, Rate, Secret};
use leadsprint::http::{FetchError, RequestMetrics, VendorClient};
use leadsprint::sources::Link;
use leadsprint::sources::apollo::{Apollo, ApolloCursor};
use leadsprint::sources::sandbox::faults::FaultRates;
use leadsprint::sources::sandbox::population::Vendor;
use leadsprint::sources::sandbox::{Sandbox, SandboxConfig};
use leadsprint::sources::spend::Spend;

const SPEED: f64 = 20.0;

fn sandbox_config(faults: FaultRates) -> SandboxConfig {
    SandboxConfig { population: 4000, speed: SPEED, faults, ..SandboxConfig::default() }
}

/// The rate test runs in real time over 5-second windows, so scheduling jitter on a
/// busy CI machine stays small next to the client's slack (2 %: 100 ms a window).
const RATE_TEST_SPEED: f64 = 1.0;
const RATE_TEST_LIMIT: Rate = Rate { requests: 50, per: Duration::from_secs(5) };

fn apollo_query() -> ApolloQuery {
    ApolloQuery {
        person_titles: vec!["ppc manager".into(), "paid media manager".into()],
        person_locations: vec!["United States".into()],
        person_seniorities: vec![],
        q_keywords: None,
        organization_num_employees_ranges: vec![],
    }
}

/// A connector's wiring with no spend cap.
fn link(client: VendorClient, workflow: &str, page_size: u32, costs: Costs) -> (Link, Arc<RequestMetrics>) {
    let metrics = Arc::new(RequestMetrics::default());
    let spend = Spend::unlimited(leadsprint::config::VendorKind::Apollo);
    let link = Link { client, workflow: workflow.into(), page_size, costs, metrics: metrics.clone(), spend };
    (link, metrics)
}

fn apollo(client: &VendorClient, key: &str) -> (Apollo, Arc<RequestMetrics>) {
    let costs = Costs { per_request: 0.0, per_credit: 0.025, per_record: 0.0 };
    let (link, metrics) = link(client.clone(), "apollo-test", 100, costs);
    (Apollo::new(link, secret(key), apollo_query()), metrics)
}

fn secret(value: &str) -> Secret {
    Secret::new(value)
}

fn client(sb: &Sandbox) -> VendorClient {
    client_at(sb, SPEED)
}

fn client_at(sb: &Sandbox, speed: f64) -> VendorClient {
    let rate = Rate { requests: 10, per: Duration::from_secs(1) };
    VendorClient::new("apollo", &sb.base_url("apollo"), rate, Duration::from_secs(30), speed).expect("client")
}

/// Runs a workflow the way the engine does: a failed page is tried again, a
/// vendor-stopping error ends it.
async fn drain(connector: &mut Apollo) -> Result<(Vec<leadsprint::lead::RawLead>, u32, u32), FetchError> {
    let mut cursor = ApolloCursor::default();
    let (mut records, mut credits, mut page_failures) = (Vec::new(), 0, 0);
    loop {
        match connector.next_page(cursor, 0).await {
            Ok(page) => {
                records.extend(page.records);
                credits += page.credits;
                match page.next {
                    Some(next) => cursor = next,
                    None => return Ok((records, credits, page_failures)),
                }
            }
            Err(e) if e.stops_vendor() => return Err(e),
            Err(_) => {
                page_failures += 1;
                assert!(page_failures < 50, "too many failed pages");
            }
        }
    }
}

#[tokio::test]
async fn apollo_pages_to_exhaustion_and_maps_every_field() {
    let sb = Sandbox::start(sandbox_config(FaultRates::NONE)).await.unwrap();
    let (mut connector, metrics) = apollo(&client(&sb), "sandbox-key");
    let (records, credits, failures) = drain(&mut connector).await.unwrap();
    let expected: BTreeSet<String> = sb
        .population()
        .matching(Vendor::Apollo, &["paid"], &[])
        .map(|p| format!("apollo:{}", p.apollo_id))
        .collect();
    let got: BTreeSet<String> = records.iter().flat_map(|r| r.profile_ids.clone()).collect();
    assert_eq!(got, expected);
    assert_eq!(records.len(), expected.len(), "no record twice");
    assert_eq!(credits as usize, expected.len());
    assert_eq!(failures, 0);
    // Keeping under the limit is measured by the rate test, on a clock slow enough
    // that a busy machine's scheduling jitter cannot eat the slack between requests.
    let requests = metrics.requests.load(std::sync::atomic::Ordering::Relaxed);
    assert!(requests as usize >= expected.len() / 10, "{requests} requests");

    let person = sb.population().matching(Vendor::Apollo, &["paid"], &[]).next().unwrap();
    let r = records.iter().find(|r| r.profile_ids == [format!("apollo:{}", person.apollo_id)]).unwrap();
    assert_eq!(r.first_name.as_deref(), Some(person.first_name.as_str()));
    assert_eq!(r.last_name.as_deref(), Some(person.last_name.as_str()));
    assert_eq!(r.job_title.as_deref(), Some(person.title.as_str()));
    assert_eq!(r.company_name.as_deref(), Some(person.company.as_str()));
    assert_eq!(r.city.as_deref(), Some(person.city()));
    assert_eq!(r.region.as_deref(), Some(person.region()));
    assert_eq!(r.company_size.as_deref(), Some(person.employees.to_string().as_str()));
    assert_eq!(r.source.vendor, "apollo");
    assert_eq!(r.source.record_id.as_deref(), Some(person.apollo_id.as_str()));
    if let Some(url) = &r.linkedin_url {
        assert_eq!(url, &format!("http://www.linkedin.com/in/{}", person.slug));
    }
    if let Some(email) = r.emails.first() {
        assert_eq!(email.to_lowercase(), person.email);
    }
    sb.stop().await;
}

#[tokio::test]
async fn apollo_survives_throttling_errors_and_garbage() {
    let faults = FaultRates {
        throttle: 5.0,
        throttle_bare: 3.0,
        server_error: 5.0,
        unavailable: 3.0,
        malformed: 3.0,
        truncated: 3.0,
        html: 3.0,
        timeout: 0.0,
    };
    let sb = Sandbox::start(sandbox_config(faults)).await.unwrap();
    let (mut connector, metrics) = apollo(&client(&sb), "sandbox-key");
    let (records, _, _) = drain(&mut connector).await.unwrap();
    let expected = sb.population().matching(Vendor::Apollo, &["paid"], &[]).count();
    let unique: BTreeSet<Vec<String>> = records.iter().map(|r| r.profile_ids.clone()).collect();
    assert_eq!(unique.len(), expected, "every record arrives despite the faults");
    assert!(sb.counters("apollo").faults_injected > 0);
    assert!(metrics.retries.load(std::sync::atomic::Ordering::Relaxed) > 0);
    sb.stop().await;
}

#[tokio::test]
async fn apollo_bad_key_and_exhausted_quota_stop_the_vendor() {
    let sb = Sandbox::start(sandbox_config(FaultRates::NONE)).await.unwrap();
    let (mut connector, _) = apollo(&client(&sb), "wrong-key");
    let err = drain(&mut connector).await.unwrap_err();
    assert!(matches!(err, FetchError::Unauthorized { status: 401, .. }), "{err:?}");
    assert!(err.to_string().contains("Invalid API key"), "{err}");
    sb.stop().await;

    let sb = Sandbox::start(SandboxConfig { daily_quota: Some(5), ..sandbox_config(FaultRates::NONE) })
        .await
        .unwrap();
    let (mut connector, metrics) = apollo(&client(&sb), "sandbox-key");
    let err = drain(&mut connector).await.unwrap_err();
    assert!(matches!(err, FetchError::QuotaExhausted(_)), "{err:?}");
    assert_eq!(metrics.retries.load(std::sync::atomic::Ordering::Relaxed), 0, "quota is not retried");
    sb.stop().await;
}

// Two workers, so the vendor stamps arrivals while the client parses a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workflows_share_the_vendor_limit_measured_at_the_server() {
    let limits = BTreeMap::from([("apollo", (RATE_TEST_LIMIT.requests, RATE_TEST_LIMIT.per))]);
    let config = SandboxConfig {
        limits,
        speed: RATE_TEST_SPEED,
        population: 2500,
        ..sandbox_config(FaultRates::NONE)
    };
    let sb = Sandbox::start(config).await.unwrap();
    let base = sb.base_url("apollo");
    let shared =
        VendorClient::new("apollo", &base, RATE_TEST_LIMIT, Duration::from_secs(30), RATE_TEST_SPEED)
            .expect("client");
    let (mut a, _) = apollo(&shared, "sandbox-key");
    let (mut b, _) = apollo(&shared, "sandbox-key");
    let (ra, rb) = tokio::join!(drain(&mut a), drain(&mut b));
    assert!(ra.is_ok() && rb.is_ok());
    let c = sb.counters("apollo");
    assert_eq!(c.rate_violations, 0, "no window over the limit");
    let n = c.admitted_at.len();
    assert!(n > 60, "enough requests to measure: {n}");
    let span = (c.admitted_at[n - 1] - c.admitted_at[0]).as_secs_f64();
    let achieved = (n - 1) as f64 / span;
    let allowed = f64::from(RATE_TEST_LIMIT.requests) / RATE_TEST_LIMIT.per.as_secs_f64() * RATE_TEST_SPEED;
    assert!(achieved >= 0.95 * allowed, "achieved {achieved:.1}/s of {allowed}/s");
    sb.stop().await;
}

mod brightdata {
    use super::*;
    use leadsprint::config::BrightDataQuery;
    use leadsprint::sources::brightdata::{BrightData, BrightDataCursor};

    fn connector(sb: &Sandbox, key: &str, records_limit: Option<u32>) -> (BrightData, Arc<RequestMetrics>) {
        let rate = Rate { requests: 1, per: Duration::from_millis(1500) };
        let client =
            VendorClient::new("brightdata", &sb.base_url("brightdata"), rate, Duration::from_secs(60), 200.0)
                .unwrap();
        let query =
            BrightDataQuery { title: "PPC Manager".into(), location: "Chicago, IL".into(), records_limit };
        let costs = Costs { per_request: 0.0, per_credit: 0.0, per_record: 0.0015 };
        let (link, metrics) = link(client, "bd-test", 1000, costs);
        let bd = BrightData::new(link, Secret::new(key), "gd_l1viktl72bvl7bjuj0".into(), query, 20_000);
        (bd, metrics)
    }

    #[tokio::test]
    async fn snapshot_is_requested_once_awaited_and_downloaded_in_parts() {
        let config = SandboxConfig { population: 80_000, speed: 200.0, ..SandboxConfig::default() };
        let sb = Sandbox::start(config).await.unwrap();
        let (mut bd, _) = connector(&sb, "sandbox-key", None);
        let first = bd.next_page(BrightDataCursor::default(), 0).await.unwrap();
        assert!(first.records.is_empty(), "the first page only requests the snapshot");
        let mut cursor = first.next.clone().unwrap();
        let snapshot = cursor.snapshot.clone().unwrap();
        assert!(
            (first.cost - 20_000.0 * 0.0015).abs() < 1e-6,
            "billed at creation, at its limit: {}",
            first.cost
        );
        let mut records = Vec::new();
        let mut cost = first.cost;
        let mut pages = 0;
        loop {
            pages += 1;
            let page = bd.next_page(cursor.clone(), 0).await.unwrap();
            cost += page.cost;
            records.extend(page.records);
            match page.next {
                Some(next) => {
                    assert_eq!(
                        next.snapshot.as_deref(),
                        Some(snapshot.as_str()),
                        "one snapshot for the whole run"
                    );
                    cursor = next;
                }
                None => break,
            }
        }
        let expected: BTreeSet<String> = sb
            .population()
            .matching(Vendor::BrightData, &["paid"], &[3])
            .map(|p| format!("brightdata:{}", p.slug))
            .collect();
        let got: BTreeSet<String> = records.iter().map(|r| r.profile_ids[0].clone()).collect();
        assert!(expected.len() > 1000, "several parts of 1000: {}", expected.len());
        assert_eq!(got, expected);
        assert_eq!(records.len(), expected.len());
        assert!((cost - records.len() as f64 * 0.0015).abs() < 1e-6, "billed per record: {cost}");
        assert_eq!(sb.counters("brightdata").billed, records.len() as u64, "what the twin billed, counted");
        let parts = expected.len().div_ceil(1000);
        assert_eq!(pages, parts + 1, "one page to learn it is ready, then one per part");
        let person = sb.population().matching(Vendor::BrightData, &["paid"], &[3]).next().unwrap();
        let r = records.iter().find(|r| r.profile_ids[0] == format!("brightdata:{}", person.slug)).unwrap();
        assert_eq!(r.profile_ids[1], format!("li:{}", person.member_id));
        assert_eq!(r.company_name.as_deref(), Some(person.company.as_str()));
        assert_eq!(r.city.as_deref(), Some("Chicago, IL, United States"));
        assert!(r.emails.is_empty(), "LinkedIn profiles carry no email");
        let lead = leadsprint::lead::normalize(r, 0).unwrap();
        assert_eq!(lead.lead.location.city.as_deref(), Some("Chicago"));
        assert_eq!(lead.lead.linkedin_url, Some(format!("https://www.linkedin.com/in/{}", person.slug)));
        sb.stop().await;
    }

    #[tokio::test]
    async fn a_wrong_key_stops_the_vendor() {
        let sb = Sandbox::start(SandboxConfig { population: 500, speed: 200.0, ..SandboxConfig::default() })
            .await
            .unwrap();
        let (mut good, _) = connector(&sb, "sandbox-key", Some(10));
        assert!(good.next_page(BrightDataCursor::default(), 0).await.is_ok());
        let (mut bad, _) = connector(&sb, "nope", Some(10));
        let err = bad.next_page(BrightDataCursor::default(), 0).await.unwrap_err();
        assert!(matches!(err, FetchError::Unauthorized { status: 401, .. }), "{err:?}");
        assert!(err.stops_vendor());
        sb.stop().await;
    }
}

mod zoominfo {
    use super::*;
    use leadsprint::config::ZoomInfoQuery;
    use leadsprint::sources::zoominfo::{AUTH_RATE, ZoomInfo, ZoomInfoCursor};

    fn client(sb: &Sandbox, client_speed: f64) -> VendorClient {
        let rate = Rate { requests: 25, per: Duration::from_secs(1) };
        VendorClient::new("zoominfo", &sb.base_url("zoominfo"), rate, Duration::from_secs(30), client_speed)
            .unwrap()
    }

    fn connector(sb: &Sandbox, password: &str, client_speed: f64) -> ZoomInfo {
        on_client(client(sb, client_speed), password)
    }

    fn on_client(client: VendorClient, password: &str) -> ZoomInfo {
        let query = ZoomInfoQuery {
            job_title: "performance marketing OR paid media".into(),
            country: Some("United States".into()),
            management_level: None,
            department: None,
        };
        let costs = Costs { per_request: 0.0, per_credit: 0.1, per_record: 0.0 };
        let (link, _) = link(client, "zi", 100, costs);
        ZoomInfo::new(link, Secret::new("user"), Secret::new(password), query)
    }

    async fn drain(zi: &mut ZoomInfo) -> Result<Vec<leadsprint::lead::RawLead>, FetchError> {
        let mut cursor = ZoomInfoCursor::default();
        let mut records = Vec::new();
        loop {
            let page = zi.next_page(cursor, 0).await?;
            records.extend(page.records);
            match page.next {
                Some(next) => cursor = next,
                None => return Ok(records),
            }
        }
    }

    #[tokio::test]
    async fn pages_to_exhaustion_and_renews_an_expired_token() {
        // The sandbox's hour passes in one real second; the client, at real speed,
        // never renews early: every expiry is met by a 401 and one re-authentication.
        let config = SandboxConfig { population: 3000, speed: 3600.0, ..SandboxConfig::default() };
        let sb = Sandbox::start(config).await.unwrap();
        let mut zi = connector(&sb, "sandbox-key", 1.0);
        let started = std::time::Instant::now();
        let records = drain(&mut zi).await.unwrap();
        assert!(started.elapsed() > Duration::from_millis(1500), "the run outlived a token");
        let expected: BTreeSet<String> = sb
            .population()
            .matching(Vendor::ZoomInfo, &["performance", "paid"], &[])
            .map(|p| format!("zoominfo:{}", p.zoominfo_id))
            .collect();
        let got: BTreeSet<String> = records.iter().map(|r| r.profile_ids[0].clone()).collect();
        assert_eq!(got, expected);
        let person = sb.population().matching(Vendor::ZoomInfo, &["paid"], &[]).next().unwrap();
        let r =
            records.iter().find(|r| r.profile_ids[0] == format!("zoominfo:{}", person.zoominfo_id)).unwrap();
        assert_eq!(r.emails[0].to_lowercase(), person.email);
        assert_eq!(r.company_domain.as_deref(), Some(format!("www.{}", person.domain).as_str()));
        let lead = leadsprint::lead::normalize(r, 0).unwrap().lead;
        assert_eq!(lead.company.domain.as_deref(), Some(person.domain.as_str()));
        if r.linkedin_url.is_some() {
            assert_eq!(lead.linkedin_url, Some(format!("https://www.linkedin.com/in/{}", person.slug)));
        }
        sb.stop().await;
    }

    /// Workflows of one account authenticating at once: how many `/authenticate`
    /// calls the twin refused for coming faster than one a second.
    async fn auth_refusals(with_auth_limit: bool) -> u64 {
        // The data limit set far off, so the refusals counted are authentication's.
        let limits = std::collections::BTreeMap::from([("zoominfo", (1000, Duration::from_secs(1)))]);
        let config = SandboxConfig { population: 300, speed: 10.0, limits, ..SandboxConfig::default() };
        let sb = Sandbox::start(config).await.unwrap();
        let shared = client(&sb, 10.0);
        let shared = if with_auth_limit { shared.with_auth_limit(AUTH_RATE) } else { shared };
        let mut workflows: Vec<ZoomInfo> = (0..3).map(|_| on_client(shared.clone(), "sandbox-key")).collect();
        let pages = futures_util::future::join_all(
            workflows.iter_mut().map(|zi| zi.next_page(ZoomInfoCursor::default(), 0)),
        )
        .await;
        assert!(pages.iter().all(Result::is_ok), "{pages:?}");
        let refused = sb.counters("zoominfo").rate_violations;
        sb.stop().await;
        refused
    }

    #[tokio::test]
    async fn authentication_has_its_own_one_a_second_limit() {
        assert_eq!(auth_refusals(true).await, 0, "three workflows authenticate a second apart");
        assert!(auth_refusals(false).await > 0, "through the data limiter alone, the twin refuses some");
    }

    #[tokio::test]
    async fn wrong_password_stops_the_vendor() {
        let sb = Sandbox::start(SandboxConfig { population: 300, speed: 100.0, ..SandboxConfig::default() })
            .await
            .unwrap();
        let mut zi = connector(&sb, "wrong", 100.0);
        let err = drain(&mut zi).await.unwrap_err();
        assert!(matches!(err, FetchError::Unauthorized { status: 401, .. }), "{err:?}");
        sb.stop().await;
    }
}
