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

/// A People API Search with its filters as query parameters, as Apollo documents them.
async fn search(sb: &Sandbox, query: &[(&str, String)]) -> reqwest::Response {
    crate::http::http(Duration::from_secs(10))
        .unwrap()
        .post(format!("{}/mixed_people/api_search", sb.base_url("apollo")))
        .header("x-api-key", "sandbox-key")
        .query(query)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn apollo_search_pages_and_bulk_match() {
    let sb = Sandbox::start(small(SandboxConfig::default())).await.unwrap();
    let query = vec![
        ("person_titles[]", "ppc manager".to_owned()),
        ("person_locations[]", "United States".to_owned()),
        ("per_page", "100".to_owned()),
    ];
    let first: Value = search(&sb, &query).await.json().await.unwrap();
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
        q.push(("page", page.to_string()));
        let body: Value = search(&sb, &q).await.json().await.unwrap();
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

#[tokio::test]
async fn apollo_refuses_pages_past_500_and_more_than_100_a_page() {
    let sb = Sandbox::start(small(SandboxConfig::default())).await.unwrap();
    let at = |page: &str, per_page: &str| vec![("page", page.to_owned()), ("per_page", per_page.to_owned())];
    assert_eq!(search(&sb, &at("500", "100")).await.status(), 200, "page 500 is the last shown");
    assert_eq!(search(&sb, &at("501", "100")).await.status(), 422);
    assert_eq!(search(&sb, &at("1", "101")).await.status(), 422);
    assert_eq!(search(&sb, &at("one", "10")).await.status(), 422);
    sb.stop().await;
}

async fn bright(sb: &Sandbox, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let request = crate::http::http(Duration::from_secs(10))
        .unwrap()
        .request(method, format!("{}{path}", sb.base_url("brightdata")))
        .bearer_auth("sandbox-key");
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.expect("request")
}

#[tokio::test]
async fn brightdata_marketplace_snapshot_lifecycle_and_refusals() {
    let config = SandboxConfig {
        population: 20_000,
        speed: 100.0,
        limits: BTreeMap::new(),
        ..SandboxConfig::default()
    };
    let sb = Sandbox::start(config).await.unwrap();
    let filter = json!({ "dataset_id": "gd_l1viktl72bvl7bjuj0", "records_limit": 1500,
        "filter": { "operator": "and", "filters": [{ "name": "position", "operator": "includes", "value": "PPC Manager" }] } });
    let mut unknown = filter.clone();
    unknown["limit"] = json!(10);
    let r = bright(&sb, reqwest::Method::POST, "/datasets/filter", Some(unknown)).await;
    assert_eq!(r.status(), 400, "an undocumented field is refused");
    let created: Value =
        bright(&sb, reqwest::Method::POST, "/datasets/filter", Some(filter)).await.json().await.unwrap();
    let id = created["snapshot_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("snap_"), "{id}");
    assert_eq!(sb.counters("brightdata").billed, 1500, "billed at creation, per record held");
    let meta: Value = bright(&sb, reqwest::Method::GET, &format!("/datasets/snapshots/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["status"], "scheduled");
    let early = format!("/datasets/snapshots/{id}/download?format=json");
    assert_eq!(bright(&sb, reqwest::Method::GET, &early, None).await.status(), 409, "not ready yet");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let meta: Value = bright(&sb, reqwest::Method::GET, &format!("/datasets/snapshots/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((meta["status"].as_str(), meta["dataset_size"].as_u64()), (Some("ready"), Some(1500)));
    let parts: Value =
        bright(&sb, reqwest::Method::GET, &format!("/datasets/snapshots/{id}/parts?batch_size=1000"), None)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(parts["parts"], 2);
    let small_batch = format!("/datasets/snapshots/{id}/download?format=json&batch_size=100&part=1");
    assert_eq!(
        bright(&sb, reqwest::Method::GET, &small_batch, None).await.status(),
        400,
        "batch_size < 1000"
    );
    let second = format!("/datasets/snapshots/{id}/download?format=json&batch_size=1000&part=2");
    let rows: Value = bright(&sb, reqwest::Method::GET, &second, None).await.json().await.unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(500));
    let jsonl = bright(&sb, reqwest::Method::GET, &format!("/datasets/snapshots/{id}/download"), None).await;
    assert_eq!(jsonl.text().await.unwrap().lines().count(), 1500, "jsonl is the default format");
    let v3 = bright(&sb, reqwest::Method::GET, &format!("/datasets/v3/progress/{id}"), None).await;
    assert_eq!(v3.status(), 404, "the Web Scraper routes do not know filter snapshots");
    let gone = bright(&sb, reqwest::Method::GET, "/datasets/snapshots/snap_nosuch", None).await;
    assert_eq!(
        (gone.status().as_u16(), gone.headers()["content-type"].to_str().unwrap()),
        (404, "text/html")
    );
    sb.stop().await;
}

#[tokio::test]
async fn zoominfo_refuses_undocumented_fields_big_pages_and_deep_paging() {
    let config = SandboxConfig { speed: 100.0, limits: BTreeMap::new(), ..SandboxConfig::default() };
    let sb = Sandbox::start(small(config)).await.unwrap();
    let http = crate::http::http(Duration::from_secs(10)).unwrap();
    let base = sb.base_url("zoominfo");
    let auth: Value = http
        .post(format!("{base}/authenticate"))
        .json(&json!({ "username": "u", "password": "sandbox-key" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = auth["jwt"].as_str().unwrap().to_owned();
    let search =
        |body: Value| http.post(format!("{base}/search/contact")).bearer_auth(&jwt).json(&body).send();
    let ok = search(json!({ "rpp": 100, "page": 10, "jobTitle": "ppc", "country": "United States" }))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "country is a documented input field");
    let r = search(json!({ "rpp": 10, "page": 1, "jobTitle": "ppc", "personCountry": "US" })).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid fields"));
    let r = search(json!({ "rpp": 101, "page": 1 })).await.unwrap();
    assert!(r.text().await.unwrap().contains("over max allowed value (100)"));
    let r = search(json!({ "rpp": 100, "page": 11 })).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Total record pagination is over max allowed value"));
    sb.stop().await;
}
