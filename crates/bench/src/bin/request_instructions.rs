//! `request-instructions`: the work Pennon's HTTP stack does above the socket for one evaluation request —
//! routing, middleware, authentication, JSON in and out, evaluation — run in-process through the router a
//! given number of times, for counting instructions under valgrind (which a busy machine does not disturb).
//!
//! ```text
//! valgrind --tool=callgrind target/release/request-instructions one 20000
//! ```
//!
//! `ceiling` runs the constant-JSON endpoint of `http-eval` the same way. As with `eval-instructions`, run
//! two iteration counts and divide the difference by the difference in iterations.

use std::hint::black_box;

use anyhow::{Context as _, bail};
use axum::body::Body;
use axum::body::Bytes;
use axum::http::{Request, header};
use axum::response::Response;
use http_body_util::BodyExt as _;
use pennon_bench::{ceiling, pennon};
use std::convert::Infallible;
use tower::{Service, ServiceExt as _};

/// The `pennon` binary's allocator (see `crates/server/src/main.rs`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (which, n) = (args.next().unwrap_or_default(), args.next().unwrap_or_default());
    let n: usize = n.parse().context("usage: request-instructions ceiling|one|all ITERATIONS")?;
    // As the `pennon` binary logs (run without RUST_LOG): request spans are created as in production.
    pennon_server::telemetry::logging::init(pennon_server::app::config::LogFormat::Text);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        // No periodic refresh: under valgrind a run is slow enough for several, which would not cancel out.
        let server = pennon::start_with(|c| c.refresh_interval = std::time::Duration::from_hours(1)).await?;
        let body = pennon::bodies(1, (which != "all").then_some("flag-00")).remove(0);
        let authorization = server.authorization.clone();
        match which.as_str() {
            "ceiling" => drive(ceiling::router(), ceiling::PATH, &body, &authorization, n).await,
            "one" | "all" => {
                let app = pennon_server::http::router::app(server.server.state.clone());
                drive(app, pennon::PATH, &body, &authorization, n).await
            }
            other => bail!("unknown loop {other:?}: ceiling, one or all"),
        }
    })
}

/// Sends the request `n` times through `app`, reading each answer to its end.
async fn drive<S>(app: S, path: &str, body: &Bytes, authorization: &str, n: usize) -> anyhow::Result<()>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    for _ in 0..n {
        let request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, authorization)
            .body(Body::from(body.clone()))?;
        let response = app.clone().oneshot(request).await?;
        anyhow::ensure!(response.status().is_success(), "answered {}", response.status());
        black_box(response.into_body().collect().await?.to_bytes());
    }
    Ok(())
}
