//! The client's retry policy against scripted fakes: what is retried, how often,
//! how long it waits, and what stops at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use leadsprint::config::Rate;
use leadsprint::http::{FetchError, RequestMetrics, VendorClient};
use serde_json::Value;

use crate::support::fake::{FakeVendor, Reply};

/// Vendor seconds pass 20 times faster: a 1 s backoff is 50 ms here.
const SPEED: f64 = 20.0;

async fn call(fake: &FakeVendor) -> Result<Value, FetchError> {
    let rate = Rate { requests: 1000, per: Duration::from_secs(1) };
    let client = VendorClient::new("fake", &fake.url, rate, Duration::from_secs(10), SPEED).unwrap();
    let metrics = Arc::new(RequestMetrics::default());
    let url = format!("{}/thing", fake.url);
    client.json(&metrics, |_, _, _| None, |http| http.get(&url)).await
}

fn ok() -> Reply {
    Reply::new(200, "{\"ok\":true}")
}

#[tokio::test]
async fn retry_after_in_seconds_is_honoured_once_then_success() {
    let fake = FakeVendor::start(vec![Reply::new(429, "{}").header("retry-after", "2"), ok()]).await;
    let value = call(&fake).await.unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(fake.requests(), 2);
    let gap = fake.gaps()[0];
    assert!(gap >= Duration::from_millis(95), "waited 2 vendor seconds (100 ms): {gap:?}");
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    let fake = FakeVendor::start(vec![Reply::new(429, "{}").header("retry-after", at), ok()]).await;
    assert!(call(&fake).await.is_ok());
    let gap = fake.gaps()[0];
    // Up to 3 vendor seconds (HTTP dates have whole seconds), scaled: at most 150 ms.
    assert!(gap <= Duration::from_millis(400), "{gap:?}");
    assert_eq!(fake.requests(), 2);
}

#[tokio::test]
async fn server_errors_get_three_attempts_with_growing_backoff() {
    let fake = FakeVendor::start(vec![Reply::new(500, "{\"error\":\"boom\"}")]).await;
    let err = call(&fake).await.unwrap_err();
    assert_eq!(err, FetchError::Server { status: 500 });
    assert_eq!(fake.requests(), 3, "at most 3 attempts");
    let gaps = fake.gaps();
    // 1 s then 2 s of vendor time (±20 %), i.e. about 50 ms then 100 ms here.
    assert!(gaps[0] >= Duration::from_millis(40) && gaps[0] < Duration::from_millis(150), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(80) && gaps[1] < Duration::from_millis(250), "{gaps:?}");
    assert!(gaps[1] > gaps[0]);
}

#[tokio::test]
async fn recovers_after_transient_failures() {
    let fake = FakeVendor::start(vec![
        Reply::new(503, "down"),
        Reply::new(200, "<html>proxy error</html>").header("content-type", "text/html"),
        ok(),
    ])
    .await;
    assert!(call(&fake).await.is_ok());
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn garbage_and_truncated_bodies_fail_the_page_without_a_panic() {
    let fake = FakeVendor::start(vec![Reply::new(200, "{\"people\":[{\"id\":")]).await;
    let err = call(&fake).await.unwrap_err();
    match err {
        FetchError::Garbage { snippet, .. } => assert!(snippet.starts_with("{\"people\""), "{snippet}"),
        other => panic!("expected garbage, got {other:?}"),
    }
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn client_errors_and_bad_credentials_are_not_retried() {
    for (status, kind) in [(422, "rejected"), (401, "auth"), (403, "auth"), (404, "rejected")] {
        let fake = FakeVendor::start(vec![Reply::new(status, "{\"error\":\"no\"}")]).await;
        let err = call(&fake).await.unwrap_err();
        assert_eq!(err.kind(), kind, "status {status}");
        assert_eq!(fake.requests(), 1, "status {status} is final");
    }
}

#[tokio::test]
async fn a_retry_after_beyond_two_minutes_fails_instead_of_stalling() {
    let fake = FakeVendor::start(vec![Reply::new(429, "{}").header("retry-after", "3600"), ok()]).await;
    let err = call(&fake).await.unwrap_err();
    assert_eq!(err, FetchError::Throttled { retry_after: Some(Duration::from_secs(3600)) });
    assert_eq!(fake.requests(), 1);
}
