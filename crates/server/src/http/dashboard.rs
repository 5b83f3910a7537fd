//! The admin dashboard: the static files of `web/app/`, embedded in the binary (a release build carries them;
//! a debug build reads them from the source tree, so editing a page needs no rebuild).
//!
//! Every `GET` that no API route answers lands here: `/` is the dashboard's page, other paths are its files.
//! The dashboard routes by the URL's fragment (`/#/flags/new-checkout`), so the server never has to guess
//! whether an unknown path is a page. Anything under `/api/` or `/ofrep/` stays a JSON 404.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use crate::http::error::ApiError;

#[derive(Embed)]
#[folder = "../../web/app/"]
struct Assets;

/// Only our own files: no inline scripts, no other origin, never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

/// Answers the requests no route took: a dashboard file, or the API's JSON 404.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let api = path.starts_with("/api/") || path.starts_with("/ofrep/");
    if api || (method != Method::GET && method != Method::HEAD) {
        return ApiError::NotFound("route".into()).into_response();
    }
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        name => name,
    };
    match Assets::get(name) {
        Some(file) => file_response(name, &file, &headers),
        None => ApiError::NotFound(format!("file {path}")).into_response(),
    }
}

fn file_response(name: &str, file: &rust_embed::EmbeddedFile, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut response = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.data.clone().into_owned().into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    // Revalidated on every load (cheap: 304), so a new server version's files are picked up at once.
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    response
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map_or("", |(_, ext)| ext) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_page_is_embedded() {
        let index = Assets::get("index.html").expect("web/app/index.html");
        assert!(std::str::from_utf8(&index.data).unwrap().contains("<main"));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("js/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
