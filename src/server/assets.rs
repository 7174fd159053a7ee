//! The web UI's files, embedded from `web/` at build time: served with their type,
//! an ETag (revalidated on every load, so an upgraded binary never serves a stale
//! page) and the security headers the guard adds. The UI routes by `#` hash, so
//! any path that is not one of its files is a 404; `..` and encoded separators
//! never reach the lookup.

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "web/"]
#[exclude = "README.md"]
struct Web;

pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path == "api" {
        let body =
            serde_json::json!({ "error": format!("no API route {}; see /api/openapi.json", uri.path()) });
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    if !safe(path) {
        return not_found();
    }
    let name = if path.is_empty() { "index.html" } else { path };
    match Web::get(name) {
        Some(file) => file_response(name, file, &headers),
        None => not_found(),
    }
}

/// No parent steps, no backslashes, no percent-encoding, no empty segments.
fn safe(path: &str) -> bool {
    !path.contains('%')
        && !path.contains('\\')
        && !path.contains('\0')
        && path.split('/').all(|segment| segment != ".." && segment != ".")
        && !path.contains("//")
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

fn file_response(name: &str, file: rust_embed::EmbeddedFile, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..12]));
    let cache = [(header::CACHE_CONTROL, "no-cache"), (header::ETAG, etag.as_str())];
    let matches = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str());
    if matches {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, content_type(name))];
    (content_type, cache, file.data.into_owned()).into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_encoded_paths_are_unsafe() {
        for bad in ["../Cargo.toml", "a/../../etc/passwd", "%2e%2e/x", "..\\x", "./index.html", "a//b", "x\0"]
        {
            assert!(!safe(bad), "{bad}");
        }
        for good in ["", "index.html", "app.js", "img/logo.svg"] {
            assert!(safe(good), "{good}");
        }
    }

    #[test]
    fn the_ui_files_are_embedded() {
        for name in ["index.html", "app.js", "style.css"] {
            assert!(Web::get(name).is_some(), "{name} is not embedded");
        }
        assert!(Web::get("README.md").is_none());
    }
}
