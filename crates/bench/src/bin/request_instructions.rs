//! `request-instructions`: the work Pennon's HTTP stack does above the socket for one request — routing,
//! middleware, authentication, JSON in and out, evaluation — run in-process through the router a given
//! number of times, for counting instructions under valgrind (which a busy machine does not disturb).
//!
//! ```text
//! valgrind --tool=callgrind target/release/request-instructions one 20000
//! valgrind --tool=callgrind target/release/request-instructions browser 20000 --cors tower --span tower
//! ```
//!
//! The requests:
//!
//! - `one`, `all`: `POST /api/v1/evaluate` with a server key, for one flag or all fifty (`http-eval`'s);
//! - `preflight`: the browser's `OPTIONS /api/v1/evaluate` from an allowed origin, with
//!   `Access-Control-Request-Method` and `-Headers`;
//! - `browser`: the browser's actual request, one flag with a client key and that `Origin`;
//! - `health`: `GET /healthz`, a request served in its span (the evaluation routes make none);
//! - `ceiling`: the constant-JSON endpoint of `http-eval`;
//! - `hostile`: a 1 MB evaluation body with about 90,000 distinct attribute names (refused for its attribute
//!   count), and `large`: a valid 1 MB one (256 attributes of 4 KB strings), both with a server key;
//! - `serde`: no request — `serde_json` reading the `large` body into a `Value`, the yardstick the hostile
//!   body's cost is held to (within 3×).
//!
//! `--cors`, `--span` and `--fields` put tower-http's (and tracing-subscriber's) counterparts in place of the
//! server's own middleware ([`pennon_bench::stacks`]). As with `eval-instructions`, run two iteration counts
//! and divide the difference by the difference in iterations.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::hint::black_box;

use anyhow::ensure;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, header};
use axum::response::Response;
use clap::Parser;
use http_body_util::BodyExt as _;
use pennon_bench::stacks::{CorsImpl, EvaluationCors, FieldsImpl, OwnCorsOutside, SpanImpl};
use pennon_bench::{ceiling, pennon, stacks};
use tower::{Layer as _, Service, ServiceExt as _};

/// The `pennon` binary's allocator (see `crates/server/src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sends one kind of request through the application in-process, over and over.
#[derive(Debug, Parser)]
#[command(name = "request-instructions")]
struct Args {
    /// Which request.
    #[arg(value_enum)]
    request: Which,
    /// How many times.
    iterations: usize,
    /// Whose CORS on the evaluation routes.
    #[arg(long, value_enum, default_value = "own")]
    cors: CorsImpl,
    /// Whose request id and span.
    #[arg(long, value_enum, default_value = "own")]
    span: SpanImpl,
    /// Whose text log field formatter.
    #[arg(long, value_enum, default_value = "own")]
    fields: FieldsImpl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Which {
    Ceiling,
    One,
    All,
    Preflight,
    Browser,
    Health,
    Hostile,
    Large,
    Serde,
}

/// The size of the `hostile` and `large` bodies: just under the default body limit.
const BIG_BODY: usize = 1_000_000;

/// An evaluation body of `BIG_BODY` bytes: distinct attribute names with a number each (`hostile`), or 256
/// attributes with long strings (`large`).
fn big_body(hostile: bool) -> Vec<u8> {
    let mut body = String::from(r#"{"flag":"flag-00","context":{"key":"user-1","attributes":{"#);
    let mut i = 0;
    while body.len() < BIG_BODY - 64 && (hostile || i < 256) {
        if i > 0 {
            body.push(',');
        }
        if hostile {
            let _ = write!(body, "\"a{i:06}\":{i}");
        } else {
            let _ = write!(body, "\"a{i:03}\":\"{}\"", "x".repeat((BIG_BODY - 4_096) / 256 - 12));
        }
        i += 1;
    }
    body.push_str("}}}");
    body.into_bytes()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // As the `pennon` binary logs (run without RUST_LOG): request spans are created as in production.
    stacks::init_logging(args.fields);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        // No periodic refresh: under valgrind a run is slow enough for several, which would not cancel out.
        let server = pennon::start_with(|c| c.refresh_interval = std::time::Duration::from_hours(1)).await?;
        let request = request(&server, args.request);
        let n = args.iterations;
        if args.request == Which::Serde {
            for _ in 0..n {
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(&request.body))?);
            }
            return Ok(());
        }
        if args.request == Which::Ceiling {
            return drive(ceiling::router(), &request, n).await;
        }
        let state = server.server.state.clone();
        let own_cors = args.cors == CorsImpl::Own;
        let router = pennon_server::http::router::router(state.clone(), own_cors);
        let own_span = pennon_server::http::request_span::RequestSpanLayer::new();
        let lean = args.span == SpanImpl::TowerLean;
        match (args.cors, args.span) {
            (CorsImpl::Own, SpanImpl::Own) => drive(own_span.layer(router), &request, n).await,
            (CorsImpl::OwnOutside, SpanImpl::Own) => {
                drive(own_span.layer(OwnCorsOutside::new(&state, router)), &request, n).await
            }
            (CorsImpl::OwnOutside, _) => anyhow::bail!("--cors own-outside goes with --span own"),
            (CorsImpl::Tower, SpanImpl::Own) => {
                drive(own_span.layer(EvaluationCors::new(&state, router)), &request, n).await
            }
            (CorsImpl::Own, _) => drive(stacks::tower_span(router, lean), &request, n).await,
            (CorsImpl::Tower, _) => {
                drive(stacks::tower_span(EvaluationCors::new(&state, router), lean), &request, n).await
            }
        }
    })
}

/// One request, as parts to build it again each time.
struct Sent {
    method: Method,
    path: &'static str,
    headers: HeaderMap,
    body: axum::body::Bytes,
    /// The `Access-Control-Allow-Origin` the answer must carry.
    allow_origin: Option<&'static str>,
    /// Whether the answer is a success (else a 4xx).
    success: bool,
}

fn request(server: &pennon::Pennon, which: Which) -> Sent {
    let body = pennon::bodies(1, (which != Which::All).then_some("flag-00")).remove(0);
    let mut headers = HeaderMap::new();
    let mut add = |name: header::HeaderName, value: &str| {
        headers.insert(name, value.parse().expect("a header value"));
    };
    let (method, path, allow_origin) = match which {
        Which::Ceiling => (Method::POST, ceiling::PATH, None),
        Which::One | Which::All | Which::Hostile | Which::Large | Which::Serde => (Method::POST, pennon::PATH, None),
        Which::Preflight => {
            add(header::ORIGIN, pennon::ORIGIN);
            add(header::ACCESS_CONTROL_REQUEST_METHOD, "POST");
            add(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type");
            (Method::OPTIONS, pennon::PATH, Some(pennon::ORIGIN))
        }
        Which::Browser => {
            add(header::ORIGIN, pennon::ORIGIN);
            (Method::POST, pennon::PATH, Some(pennon::ORIGIN))
        }
        Which::Health => (Method::GET, "/healthz", None),
    };
    match which {
        Which::Ceiling | Which::One | Which::All | Which::Hostile | Which::Large | Which::Serde => {
            add(header::AUTHORIZATION, &server.authorization);
        }
        Which::Browser => add(header::AUTHORIZATION, &server.client_authorization),
        Which::Preflight | Which::Health => {}
    }
    if method == Method::POST {
        add(header::CONTENT_TYPE, "application/json");
    }
    let body = match which {
        Which::Hostile => big_body(true).into(),
        Which::Large | Which::Serde => big_body(false).into(),
        _ if method == Method::POST => body,
        _ => axum::body::Bytes::new(),
    };
    Sent { method, path, headers, body, allow_origin, success: which != Which::Hostile }
}

/// Sends the request `n` times through `app`, reading each answer to its end.
async fn drive<S>(app: S, sent: &Sent, n: usize) -> anyhow::Result<()>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    for i in 0..n {
        let mut request = Request::new(Body::from(sent.body.clone()));
        *request.method_mut() = sent.method.clone();
        *request.uri_mut() = axum::http::Uri::from_static(sent.path);
        *request.headers_mut() = sent.headers.clone();
        let response = app.clone().oneshot(request).await?;
        if i == 0 {
            let status = response.status();
            ensure!(if sent.success { status.is_success() } else { status.is_client_error() }, "answered {status}");
            let allowed = response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
            ensure!(
                allowed.and_then(|v| v.to_str().ok()) == sent.allow_origin,
                "Access-Control-Allow-Origin {allowed:?}, expected {:?}",
                sent.allow_origin
            );
        }
        black_box(response.into_body().collect().await?.to_bytes());
    }
    Ok(())
}
