//! A fake HubSpot that speaks the contacts batch-upsert API: bearer token check
//! (401), 100-input limit (400), upsert by email (`new` true/false), per-contact
//! validation errors answered with 207, a whole-batch 400 for a poisoned record, and
//! scripted 429s with `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub const TOKEN: &str = "pat-na1-test-token";

#[derive(Default)]
pub struct Hub {
    /// email → (contact id, properties)
    pub contacts: HashMap<String, (u64, Value)>,
    pub requests: usize,
    pub throttled: usize,
    /// Answer this many next requests with 429 + Retry-After: 1.
    pub throttle_next: usize,
    pub largest_batch: usize,
}

pub struct FakeHubSpot {
    pub url: String,
    pub hub: Arc<Mutex<Hub>>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeHubSpot {
    pub fn start() -> FakeHubSpot {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let hub = Arc::new(Mutex::new(Hub::default()));
        let app = Router::new()
            .route("/crm/v3/objects/contacts/batch/upsert", post(upsert))
            .with_state(hub.clone());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeHubSpot { url, hub, _runtime: runtime }
    }
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    let body =
        json!({"status": "error", "message": message, "correlationId": "c0ffee", "category": category});
    (status, Json(body)).into_response()
}

async fn upsert(State(hub): State<Arc<Mutex<Hub>>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut hub = hub.lock().unwrap();
    hub.requests += 1;
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found.",
        );
    }
    if hub.throttle_next > 0 {
        hub.throttle_next -= 1;
        hub.throttled += 1;
        let body = json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "correlationId": "c0ffee", "policyName": "TEN_SECONDLY_ROLLING"});
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(body)).into_response();
    }
    let inputs = body["inputs"].as_array().cloned().unwrap_or_default();
    hub.largest_batch = hub.largest_batch.max(inputs.len());
    if inputs.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "batch too large: at most 100 inputs");
    }
    if inputs.iter().any(|i| i["id"].as_str().is_some_and(|e| e.contains("poison"))) {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Invalid input JSON on line 1");
    }
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    for input in inputs {
        let email = input["id"].as_str().unwrap_or_default().to_lowercase();
        if email.contains("invalid") {
            errors.push(json!({"status": "error", "category": "VALIDATION_ERROR",
                "message": format!("Property values were not valid: email {email}"), "context": {"ids": [email]}}));
            continue;
        }
        let next_id = hub.contacts.len() as u64 + 1001;
        let mut properties = input["properties"].clone();
        properties["email"] = json!(email);
        let new = !hub.contacts.contains_key(&email);
        let entry = hub.contacts.entry(email.clone()).or_insert((next_id, json!({})));
        entry.1 = properties.clone();
        results.push(json!({"id": entry.0.to_string(), "new": new, "properties": properties,
            "updatedAt": "2026-11-28T12:00:00Z"}));
    }
    let mut answer = json!({"status": "COMPLETE", "results": results,
        "startedAt": "2026-11-28T12:00:00Z", "completedAt": "2026-11-28T12:00:01Z"});
    if errors.is_empty() {
        return (StatusCode::OK, Json(answer)).into_response();
    }
    answer["numErrors"] = json!(errors.len());
    answer["errors"] = json!(errors);
    (StatusCode::MULTI_STATUS, Json(answer)).into_response()
}
