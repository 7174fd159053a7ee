//! A fake HubSpot that speaks the contacts batch-upsert API: bearer token check
//! (401) and each call's scopes (403 `MISSING_SCOPES` naming them), 100-input limit
//! (400), duplicate ids in one batch refused (400, as HubSpot does), a property the
//! portal lacks refused for the whole batch (400 `PROPERTY_DOESNT_EXIST`), upsert by
//! email (`new` true/false), per-contact validation errors answered with 207, a
//! whole-batch 400 for a poisoned record, and scripted 429s with `Retry-After`;
//! batch read by email (unknown ones as 207 `OBJECT_NOT_FOUND` errors), the contact
//! merge (400 for an unknown id or a contact merged with itself; the merged
//! contact's email becomes an additional email of the one kept), and the contact
//! property lookup and creation.

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
/// A private app's token with only the scope the upsert needs.
pub const WRITE_ONLY_TOKEN: &str = "pat-na1-write-only";
/// A token of an app granted no contact scope.
pub const COMPANIES_TOKEN: &str = "pat-na1-companies-only";

const WRITE: &str = "crm.objects.contacts.write";
const READ: &str = "crm.objects.contacts.read";
const SCHEMAS_READ: &str = "crm.schemas.contacts.read";
const SCHEMAS_WRITE: &str = "crm.schemas.contacts.write";

/// The scopes each token was granted.
fn scopes_of(token: &str) -> Option<&'static [&'static str]> {
    match token {
        TOKEN => Some(&[WRITE, READ, SCHEMAS_READ, SCHEMAS_WRITE]),
        WRITE_ONLY_TOKEN => Some(&[WRITE]),
        COMPANIES_TOKEN => Some(&["crm.objects.companies.read"]),
        _ => None,
    }
}

/// The contact properties every portal has (those the default mapping uses).
const STANDARD_PROPERTIES: [&str; 11] = [
    "email",
    "firstname",
    "lastname",
    "jobtitle",
    "company",
    "website",
    "city",
    "state",
    "country",
    "phone",
    "hs_additional_emails",
];

#[derive(Default)]
pub struct Hub {
    /// email → (contact id, properties)
    pub contacts: HashMap<String, (u64, Value)>,
    pub requests: usize,
    pub throttled: usize,
    /// Answer this many next requests with 429 + Retry-After: 1.
    pub throttle_next: usize,
    pub largest_batch: usize,
    /// (kept, merged into it) contact ids, in order.
    pub merges: Vec<(String, String)>,
    /// Contacts ever created (ids are never reused, even after a merge).
    created: u64,
    /// Contact properties the portal has (the standard ones and `linkedin_url`).
    pub properties: std::collections::BTreeSet<String>,
    /// Batches refused for holding one id twice.
    pub duplicate_batches: usize,
    /// Upsert calls and their sizes.
    pub batch_sizes: Vec<usize>,
}

impl Hub {
    fn new() -> Hub {
        let mut properties: std::collections::BTreeSet<String> =
            STANDARD_PROPERTIES.iter().map(|p| (*p).to_owned()).collect();
        properties.insert("linkedin_url".into());
        Hub { properties, ..Hub::default() }
    }
}

pub struct FakeHubSpot {
    pub url: String,
    pub hub: Arc<Mutex<Hub>>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeHubSpot {
    pub fn start() -> FakeHubSpot {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let hub = Arc::new(Mutex::new(Hub::new()));
        let app = Router::new()
            .route("/crm/v3/objects/contacts/batch/upsert", post(upsert))
            .route("/crm/v3/objects/contacts/batch/read", post(read))
            .route("/crm/v3/objects/contacts/merge", post(merge))
            .route("/crm/v3/objects/contacts", axum::routing::get(list))
            .route("/crm/v3/properties/contacts/{name}", axum::routing::get(property))
            .route("/crm/v3/properties/contacts", post(create_property))
            .with_state(hub.clone());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeHubSpot { url, hub, _runtime: runtime }
    }
}

async fn list(headers: HeaderMap) -> Response {
    if let Some(refused) = unauthorized(&headers, &[READ]) {
        return refused;
    }
    Json(json!({"results": []})).into_response()
}

/// HubSpot's 401 for a request without a known token, and its 403 when the
/// token has none of the scopes the call accepts.
fn unauthorized(headers: &HeaderMap, accepted: &[&str]) -> Option<Response> {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(granted) = scopes_of(bearer.strip_prefix("Bearer ").unwrap_or_default()) else {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found.",
        ));
    };
    if accepted.iter().any(|scope| granted.contains(scope)) {
        return None;
    }
    let body = json!({"status": "error",
        "message": "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
        "correlationId": "c0ffee",
        "errors": [{"message": "One or more of the following scopes are required.",
            "context": {"requiredGranularScopes": accepted}}],
        "links": {"scopes": "https://developers.hubspot.com/scopes"},
        "category": "MISSING_SCOPES"});
    Some((StatusCode::FORBIDDEN, Json(body)).into_response())
}

async fn property(
    State(hub): State<Arc<Mutex<Hub>>>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let mut hub = hub.lock().unwrap();
    hub.requests += 1;
    if let Some(refused) = unauthorized(&headers, &[SCHEMAS_READ, READ, WRITE]) {
        return refused;
    }
    if !hub.properties.contains(&name) {
        let message = format!("Unable to find property {name}");
        return error(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", &message);
    }
    Json(json!({"name": name, "label": name, "type": "string", "fieldType": "text",
        "groupName": "contactinformation", "hidden": false}))
    .into_response()
}

async fn create_property(
    State(hub): State<Arc<Mutex<Hub>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut hub = hub.lock().unwrap();
    hub.requests += 1;
    if let Some(refused) = unauthorized(&headers, &[SCHEMAS_WRITE]) {
        return refused;
    }
    let required = ["name", "label", "type", "fieldType", "groupName"];
    if let Some(missing) = required.iter().find(|k| !body[**k].is_string()) {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &format!("{missing} is required"));
    }
    let name = body["name"].as_str().unwrap_or_default().to_owned();
    if !hub.properties.insert(name.clone()) {
        return error(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            &format!("A property named '{name}' already exists."),
        );
    }
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `leadsprint export hubspot` of `sb` against `fake` with `token`, its report
/// beside the data dir (`hubspot-report.csv`).
pub fn export(sb: &super::Sandbox, fake: &FakeHubSpot, token: &str, extra: &[&str]) -> super::Run {
    let report = sb.path("hubspot-report.csv");
    let report = report.to_str().expect("utf-8 path");
    let mut args =
        vec!["export", "hubspot", "--base-url", &fake.url, "--rate", "1000/s", "--json", "--report", report];
    args.extend_from_slice(extra);
    let output = sb.command(&args).env("HUBSPOT_TOKEN", token).output().expect("run leadsprint");
    super::Run::from(output)
}

async fn read(State(hub): State<Arc<Mutex<Hub>>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut hub = hub.lock().unwrap();
    hub.requests += 1;
    if let Some(refused) = unauthorized(&headers, &[READ]) {
        return refused;
    }
    if body["idProperty"] != "email" {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "this fake reads by email only");
    }
    let inputs = body["inputs"].as_array().cloned().unwrap_or_default();
    if inputs.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "batch too large: at most 100 inputs");
    }
    let (mut results, mut missing) = (Vec::new(), Vec::new());
    for input in inputs {
        let email = input["id"].as_str().unwrap_or_default().to_lowercase();
        match hub.contacts.get(&email) {
            Some((id, properties)) => results.push(json!({"id": id.to_string(), "archived": false,
                "properties": {"email": properties["email"], "hs_object_id": id.to_string()},
                "createdAt": "2026-11-28T12:00:00Z", "updatedAt": "2026-11-28T12:00:00Z"})),
            None => missing.push(email),
        }
    }
    let mut answer = json!({"status": "COMPLETE", "results": results,
        "startedAt": "2026-11-28T12:00:00Z", "completedAt": "2026-11-28T12:00:01Z"});
    if missing.is_empty() {
        return (StatusCode::OK, Json(answer)).into_response();
    }
    answer["numErrors"] = json!(1);
    answer["errors"] = json!([{"status": "error", "category": "OBJECT_NOT_FOUND",
        "message": "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
        "context": {"ids": missing}}]);
    (StatusCode::MULTI_STATUS, Json(answer)).into_response()
}

async fn merge(State(hub): State<Arc<Mutex<Hub>>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut hub = hub.lock().unwrap();
    hub.requests += 1;
    if let Some(refused) = unauthorized(&headers, &[WRITE]) {
        return refused;
    }
    let (Some(keep), Some(other)) = (body["primaryObjectId"].as_str(), body["objectIdToMerge"].as_str())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "primaryObjectId and objectIdToMerge are required",
        );
    };
    let email_of =
        |id: &str| hub.contacts.iter().find(|(_, (i, _))| i.to_string() == id).map(|(e, _)| e.clone());
    let (Some(kept_email), Some(merged_email)) = (email_of(keep), email_of(other)) else {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Object not found for merge");
    };
    if keep == other {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "Cannot merge an object with itself");
    }
    hub.contacts.remove(&merged_email);
    if let Some((_, properties)) = hub.contacts.get_mut(&kept_email) {
        properties["hs_additional_emails"] = json!(merged_email);
    }
    hub.merges.push((keep.to_owned(), other.to_owned()));
    Json(json!({"id": keep, "archived": false, "properties": {"email": kept_email},
        "createdAt": "2026-11-28T12:00:00Z", "updatedAt": "2026-11-28T12:00:00Z"}))
    .into_response()
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    let body =
        json!({"status": "error", "message": message, "correlationId": "c0ffee", "category": category});
    (status, Json(body)).into_response()
}

async fn upsert(State(hub): State<Arc<Mutex<Hub>>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut hub = hub.lock().unwrap();
    hub.requests += 1;
    if let Some(refused) = unauthorized(&headers, &[WRITE]) {
        return refused;
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
    hub.batch_sizes.push(inputs.len());
    if inputs.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "batch too large: at most 100 inputs");
    }
    let ids: Vec<String> =
        inputs.iter().map(|i| i["id"].as_str().unwrap_or_default().to_lowercase()).collect();
    let mut seen = std::collections::HashSet::new();
    let repeated: Vec<&String> = ids.iter().filter(|id| !seen.insert(*id)).collect();
    if !repeated.is_empty() {
        hub.duplicate_batches += 1;
        let message = format!("Duplicate IDs found in batch input: {repeated:?}. IDs must be unique");
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &message);
    }
    let unknown: Vec<String> = inputs
        .iter()
        .filter_map(|i| i["properties"].as_object())
        .flat_map(|p| p.keys().cloned())
        .filter(|k| !hub.properties.contains(k))
        .collect();
    if let Some(name) = unknown.first() {
        let message = format!(
            "Property values were not valid: [{{\"isValid\":false,\"message\":\"Property \\\"{name}\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"{name}\"}}]"
        );
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &message);
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
        let next_id = hub.created + 1001;
        let mut properties = input["properties"].clone();
        properties["email"] = json!(email);
        let new = !hub.contacts.contains_key(&email);
        hub.created += u64::from(new);
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

/// A fake Salesforce: OAuth token endpoint (client credentials, and JWT bearer with
/// the RS256 signature verified), and Bulk API 2.0 ingest jobs for Lead (create,
/// CSV upload, UploadComplete, InProgress → JobComplete, successful, failed and
/// unprocessed records as CSV). Sessions can be made to expire after a number of
/// calls (401); a job can be made to fail part-way (`Failed` with an
/// `errorMessage`, its later rows unprocessed); the org's daily API limit can be
/// spent (403 `REQUEST_LIMIT_EXCEEDED`).
pub mod salesforce {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post, put};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    pub const CLIENT_ID: &str = "3MVG9-test-consumer-key";
    pub const CLIENT_SECRET: &str = "test-consumer-secret";
    pub const USERNAME: &str = "exporter@acme.example";
    const PUBLIC_KEY: &[u8] = include_bytes!("../fixtures/salesforce/jwt-public.der");

    #[derive(Default)]
    pub struct Org {
        pub sign_ins: usize,
        pub jwt_sign_ins: usize,
        valid: Vec<String>,
        /// Expire every session after this many API calls (then 401).
        pub expire_after: Option<usize>,
        calls_on_session: usize,
        jobs: HashMap<String, Job>,
        /// Lead records: external id (or a generated id) → row.
        pub leads: HashMap<String, HashMap<String, String>>,
        url: String,
        /// Jobs stop after this many rows, `Failed`, the rest unprocessed.
        pub fail_after: Option<usize>,
        /// Every data call answers 403 `REQUEST_LIMIT_EXCEEDED`.
        pub limit_spent: bool,
    }

    struct Job {
        operation: String,
        external: Option<String>,
        csv: String,
        state: String,
        ok: Vec<String>,
        failed: Vec<String>,
        unprocessed: Vec<String>,
        error_message: Option<String>,
    }

    pub struct FakeSalesforce {
        pub url: String,
        pub org: Arc<Mutex<Org>>,
        _runtime: tokio::runtime::Runtime,
    }

    impl FakeSalesforce {
        pub fn start() -> FakeSalesforce {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            let org = Arc::new(Mutex::new(Org::default()));
            let base = "/services/data/v62.0/jobs/ingest";
            let app = Router::new()
                .route("/services/oauth2/token", post(token))
                .route(base, post(create))
                .route(&format!("{base}/{{id}}"), get(status).patch(complete))
                .route(&format!("{base}/{{id}}/batches"), put(upload))
                .route(&format!("{base}/{{id}}/{{kind}}/"), get(results))
                .with_state(org.clone());
            let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            org.lock().unwrap().url = url.clone();
            runtime.spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            FakeSalesforce { url, org, _runtime: runtime }
        }
    }

    type Shared = State<Arc<Mutex<Org>>>;

    async fn token(State(org): Shared, body: String) -> Response {
        let decode = |v: &str| {
            percent_encoding::percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned()
        };
        let form: HashMap<String, String> = body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        let mut org = org.lock().unwrap();
        let accepted = match form.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {
                form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                    && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
            }
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                let ok = form.get("assertion").is_some_and(|a| valid_jwt(a, &org.url));
                org.jwt_sign_ins += usize::from(ok);
                ok
            }
            _ => false,
        };
        if !accepted {
            let body = json!({"error": "invalid_client", "error_description": "invalid client credentials"});
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
        org.sign_ins += 1;
        org.calls_on_session = 0;
        let access = format!("00D-session-{}", org.sign_ins);
        org.valid = vec![access.clone()];
        let body = json!({"access_token": access, "instance_url": org.url, "id": "https://login/id/00D/005",
            "token_type": "Bearer", "issued_at": "1796000000000", "signature": "sig"});
        axum::Json(body).into_response()
    }

    fn valid_jwt(assertion: &str, audience: &str) -> bool {
        let parts: Vec<&str> = assertion.split('.').collect();
        let [header, claims, signature] = parts[..] else { return false };
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).ok();
        let (Some(h), Some(c), Some(sig)) = (decode(header), decode(claims), decode(signature)) else {
            return false;
        };
        let h: Value = serde_json::from_slice(&h).unwrap_or_default();
        let c: Value = serde_json::from_slice(&c).unwrap_or_default();
        let key =
            ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, PUBLIC_KEY);
        h["alg"] == "RS256"
            && c["iss"] == CLIENT_ID
            && c["sub"] == USERNAME
            && c["aud"] == audience
            && c["exp"].as_u64().is_some()
            && key.verify(format!("{header}.{claims}").as_bytes(), &sig).is_ok()
    }

    /// The session check every data call makes.
    fn session(org: &mut Org, headers: &HeaderMap) -> Result<(), Box<Response>> {
        if org.limit_spent {
            let body =
                json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]);
            return Err(Box::new((StatusCode::FORBIDDEN, axum::Json(body)).into_response()));
        }
        let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let token = bearer.strip_prefix("Bearer ").unwrap_or_default();
        let expired = org.expire_after.is_some_and(|n| org.calls_on_session >= n);
        if expired {
            org.valid.clear();
        }
        if !org.valid.iter().any(|t| t == token) {
            let body = json!([{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]);
            return Err(Box::new((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()));
        }
        org.calls_on_session += 1;
        Ok(())
    }

    async fn create(State(org): Shared, headers: HeaderMap, axum::Json(spec): axum::Json<Value>) -> Response {
        let mut org = org.lock().unwrap();
        if let Err(r) = session(&mut org, &headers) {
            return *r;
        }
        let id = format!("7505f{:010}", org.jobs.len() + 1);
        let job = Job {
            operation: spec["operation"].as_str().unwrap_or_default().to_owned(),
            external: spec["externalIdFieldName"].as_str().map(str::to_owned),
            csv: String::new(),
            state: "Open".into(),
            ok: Vec::new(),
            failed: Vec::new(),
            unprocessed: Vec::new(),
            error_message: None,
        };
        org.jobs.insert(id.clone(), job);
        let body = json!({"id": id, "state": "Open", "object": "Lead",
            "contentUrl": format!("services/data/v62.0/jobs/ingest/{id}/batches")});
        axum::Json(body).into_response()
    }

    async fn upload(State(org): Shared, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Response {
        let mut org = org.lock().unwrap();
        if let Err(r) = session(&mut org, &headers) {
            return *r;
        }
        match org.jobs.get_mut(&id) {
            Some(job) if job.state == "Open" => {
                job.csv.push_str(&String::from_utf8_lossy(&body));
                StatusCode::CREATED.into_response()
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }

    async fn complete(
        State(org): Shared,
        headers: HeaderMap,
        Path(id): Path<String>,
        axum::Json(v): axum::Json<Value>,
    ) -> Response {
        let mut org = org.lock().unwrap();
        if let Err(r) = session(&mut org, &headers) {
            return *r;
        }
        match org.jobs.get_mut(&id) {
            Some(job) if v["state"] == "UploadComplete" => {
                job.state = "UploadComplete".into();
                axum::Json(json!({"id": id, "state": "UploadComplete"})).into_response()
            }
            _ => StatusCode::BAD_REQUEST.into_response(),
        }
    }

    async fn status(State(org): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
        let mut guard = org.lock().unwrap();
        let org = &mut *guard;
        if let Err(r) = session(org, &headers) {
            return *r;
        }
        let Some(job) = org.jobs.get_mut(&id) else { return StatusCode::NOT_FOUND.into_response() };
        match job.state.as_str() {
            "UploadComplete" => job.state = "InProgress".into(),
            "InProgress" => {
                process(job, &mut org.leads, org.fail_after);
                job.state = if job.unprocessed.is_empty() { "JobComplete" } else { "Failed" }.into();
            }
            _ => {}
        }
        let mut body = json!({"id": id, "state": job.state, "numberRecordsProcessed": job.ok.len() + job.failed.len(),
            "numberRecordsFailed": job.failed.len()});
        if let Some(message) = &job.error_message {
            body["errorMessage"] = json!(message);
        }
        axum::Json(body).into_response()
    }

    fn process(
        job: &mut Job,
        leads: &mut HashMap<String, HashMap<String, String>>,
        fail_after: Option<usize>,
    ) {
        let mut reader = csv::Reader::from_reader(job.csv.as_bytes());
        let headers = reader.headers().cloned().unwrap_or_default();
        for (n, record) in reader.records().flatten().enumerate() {
            if fail_after.is_some_and(|limit| n >= limit) {
                let line = record
                    .iter()
                    .map(|v| format!("\"{}\"", v.replace('"', "\"\"")))
                    .collect::<Vec<_>>()
                    .join(",");
                job.unprocessed.push(line);
                job.error_message =
                    Some("InternalServerError : Internal error occurred while processing the job".into());
                continue;
            }
            let row: HashMap<String, String> =
                headers.iter().zip(record.iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect();
            let line = record
                .iter()
                .map(|v| format!("\"{}\"", v.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(",");
            let error = if row.get("LastName").is_none_or(String::is_empty) {
                Some("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --")
            } else if row.get("Email").is_some_and(|e| e.contains("invalid")) {
                Some("INVALID_EMAIL_ADDRESS:Email: invalid email address:Email --")
            } else {
                None
            };
            if let Some(error) = error {
                job.failed.push(format!("\"\",\"{error}\",{line}"));
                continue;
            }
            let key = match (&job.external, job.operation.as_str()) {
                (Some(field), "upsert") => row.get(field).cloned().unwrap_or_default(),
                _ => format!("generated-{}", leads.len()),
            };
            let created = !leads.contains_key(&key);
            let sf_id = format!("00Q{:012}", leads.len());
            leads.insert(key, row);
            job.ok.push(format!("\"{sf_id}\",\"{created}\",{line}"));
        }
    }

    async fn results(
        State(org): Shared,
        headers: HeaderMap,
        Path((id, kind)): Path<(String, String)>,
    ) -> Response {
        let mut org = org.lock().unwrap();
        if let Err(r) = session(&mut org, &headers) {
            return *r;
        }
        let Some(job) = org.jobs.get(&id) else { return StatusCode::NOT_FOUND.into_response() };
        let input_header = job.csv.lines().next().unwrap_or_default();
        let (first, rows) = match kind.as_str() {
            "successfulResults" => ("\"sf__Id\",\"sf__Created\",", &job.ok),
            "failedResults" => ("\"sf__Id\",\"sf__Error\",", &job.failed),
            "unprocessedrecords" => ("", &job.unprocessed),
            _ => return StatusCode::NOT_FOUND.into_response(),
        };
        let mut text = format!("{first}{input_header}\n");
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        ([("content-type", "text/csv")], text).into_response()
    }
}
