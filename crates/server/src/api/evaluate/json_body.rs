//! Reading an evaluation request's JSON body: the content type, the bytes, and serde's reading of them.

use std::pin::Pin;

use axum::RequestExt as _;
use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::Request;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// The body of a request that says it is JSON.
pub(crate) async fn read(req: Request) -> Result<Bytes, ApiError> {
    if !crate::http::error::is_json(req.headers()) {
        return Err(ApiError::UnsupportedMediaType("expected Content-Type: application/json".into()));
    }
    whole_body(req.into_limited_body()).await
}

/// Every byte of a body, up to the route's limit (past it, or when the body cannot be read: 413, as axum's
/// `Bytes` extractor answers). An SDK's small body arrives as one frame, which is kept as it is; axum's
/// extractor gathers even that one into a list first.
async fn whole_body(mut body: Body) -> Result<Bytes, ApiError> {
    let mut first = Bytes::new();
    let mut more: Option<Vec<u8>> = None;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| ApiError::PayloadTooLarge)?.into_data() else { continue };
        match &mut more {
            None if first.is_empty() => first = data,
            None => more = Some([&first[..], &data[..]].concat()),
            Some(bytes) => bytes.extend_from_slice(&data),
        }
    }
    Ok(more.map_or(first, Bytes::from))
}

/// Reads `bytes` as a `T` without tracking where the parser is: only a body that fails is parsed a second
/// time, with [`Json`](crate::http::error::Json)'s path tracking, so that the problem names the field. Same answers
/// as [`Json`](crate::http::error::Json), less work on the hot path.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && let Ok(value) = serde_json::from_slice(bytes)
    {
        return Ok(value);
    }
    crate::http::error::parse_object(bytes)
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, header};

    use crate::http::error::is_json;
    use axum::http::HeaderValue;
    use futures_util::stream;

    use super::*;

    fn chunked(chunks: &[&'static str]) -> Body {
        let frames: Vec<_> = chunks.iter().map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c.as_bytes()))).collect();
        Body::from_stream(stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_in_any_number_of_frames_is_read_whole() {
        assert_eq!(whole_body(Body::empty()).await.unwrap(), "");
        assert_eq!(whole_body(chunked(&["{\"flag\":1}"])).await.unwrap(), "{\"flag\":1}");
        assert_eq!(whole_body(chunked(&["{\"fl", "", "ag\"", ":1}"])).await.unwrap(), "{\"flag\":1}");
        assert_eq!(whole_body(chunked(&["", "{}"])).await.unwrap(), "{}");
    }

    #[tokio::test]
    async fn a_body_past_the_limit_or_broken_is_refused() {
        // Without a route's own limit, axum's default (2 MiB) applies.
        let big = vec![b' '; 3 << 20];
        let request = Request::post("/").header(header::CONTENT_TYPE, "application/json").body(Body::from(big));
        assert!(matches!(read(request.unwrap()).await, Err(ApiError::PayloadTooLarge)));
        let broken =
            Body::from_stream(stream::iter([Ok(Bytes::from_static(b"{")), Err(std::io::Error::other("reset"))]));
        assert!(matches!(whole_body(broken).await, Err(ApiError::PayloadTooLarge)));
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            is_json(&headers)
        };
        assert!(with("application/json") && with("Application/JSON; charset=utf-8") && with("application/merge+json"));
        assert!(!with("text/plain") && !with("application/jsonx") && !with("+json") && !is_json(&HeaderMap::new()));
    }
}
