//! The sandbox speaks Apollo's API, enforces its limit and injects what it is told to.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

fn small(config: SandboxConfig) -> SandboxConfig {
    SandboxConfig { population: 3000, ..config }
}

async fn post(sb: &Sandbox, path: &str, key: &str, body: Value) -> reqwest::Response {
    crate::http::http(Duration::from_secs(10))
        .unwrap()
        .post(format!("{}{path}", sb.base_url("apollo")))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn apollo_search_pages_and_bulk_match() {
    let sb = Sandbox::start(small(SandboxConfig::default())).await.unwrap();
    let query =
        json!({ "person_titles": ["ppc manager"], "person_locations": ["United States"], "per_page": 100 });
    let first: Value =
        post(&sb, "/mixed_people/api_search", "sandbox-key", query.clone()).await.json().await.unwrap();
    let total = first["total_entries"].as_u64().unwrap();
    let expected = sb.population().matching(population::Vendor::Apollo, &["paid"], &[]).count() as u64;
    assert_eq!(total, expected);
    assert!(total > 100, "needs more than one page: {total}");
    let teaser = &first["people"][0];
    assert!(teaser["email"].is_null() && teaser["linkedin_url"].is_null(), "search shows no contact data");
    assert!(teaser["last_name_obfuscated"].as_str().unwrap().contains("***"));
    let mut seen = 0;
    for page in 1.. {
        let mut q = query.clone();
        q["page"] = json!(page);
        let body: Value = post(&sb, "/mixed_people/api_search", "sandbox-key", q).await.json().await.unwrap();
        let people = body["people"].as_array().unwrap();
        if people.is_empty() {
            break;
        }
        seen += people.len() as u64;
    }
    assert_eq!(seen, total);

    let ids: Vec<Value> =
        first["people"].as_array().unwrap().iter().take(9).map(|p| json!({ "id": p["id"] })).collect();
    let mut details = ids.clone();
    details.push(json!({ "id": "no-such-person" }));
    let matched: Value = post(&sb, "/people/bulk_match", "sandbox-key", json!({ "details": details }))
        .await
        .json()
        .await
        .unwrap();
    let matches = matched["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 10);
    assert!(matches[9].is_null());
    assert_eq!(matched["credits_consumed"], 9);
    assert_eq!(matches[0]["id"], first["people"][0]["id"]);
    assert!(matches[0]["last_name"].is_string());
    let too_many: Vec<Value> = (0..11).map(|_| json!({ "id": "x" })).collect();
    let status =
        post(&sb, "/people/bulk_match", "sandbox-key", json!({ "details": too_many })).await.status();
    assert_eq!(status, 422);
    sb.stop().await;
}

#[tokio::test]
async fn apollo_refuses_a_wrong_key_in_plain_text() {
    let sb = Sandbox::start(small(SandboxConfig::default())).await.unwrap();
    let response = post(&sb, "/mixed_people/api_search", "wrong", json!({})).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert!(response.text().await.unwrap().starts_with("Invalid API key"));
    sb.stop().await;
}

#[tokio::test]
async fn rate_limit_is_enforced_and_violations_counted() {
    let limits = BTreeMap::from([("apollo", (5, Duration::from_secs(1)))]);
    let sb = Sandbox::start(small(SandboxConfig { limits, ..SandboxConfig::default() })).await.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = post(&sb, "/mixed_people/api_search", "sandbox-key", json!({})).await;
        statuses.push((r.status().as_u16(), r.headers().get("retry-after").cloned()));
    }
    assert_eq!(statuses.iter().filter(|(s, _)| *s == 200).count(), 5, "{statuses:?}");
    assert!(statuses[5..].iter().all(|(s, retry)| *s == 429 && retry.is_some()), "{statuses:?}");
    let c = sb.counters("apollo");
    assert_eq!((c.requests, c.rate_violations, c.admitted_at.len()), (8, 3, 5));
    sb.stop().await;
}

#[tokio::test]
async fn faults_and_quota_are_injected() {
    let faults = faults::FaultRates { html: 100.0, ..faults::FaultRates::NONE };
    let sb = Sandbox::start(small(SandboxConfig { faults, ..SandboxConfig::default() })).await.unwrap();
    let r = post(&sb, "/mixed_people/api_search", "sandbox-key", json!({})).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().starts_with("<html>"));
    assert_eq!(sb.counters("apollo").faults_injected, 1);
    sb.stop().await;

    let sb = Sandbox::start(small(SandboxConfig { daily_quota: Some(2), ..SandboxConfig::default() }))
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(post(&sb, "/mixed_people/api_search", "sandbox-key", json!({})).await.status(), 200);
    }
    let r = post(&sb, "/mixed_people/api_search", "sandbox-key", json!({})).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-24-hour-requests-left"], "0");
    sb.stop().await;
}
