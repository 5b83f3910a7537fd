//! `/sdk`: what server-side SDKs use, with a server key — the snapshot, the stream of changes, and metrics.
//! The contract is `docs/sdk-protocol.md`.

mod metrics;
mod snapshot;
mod stream;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(snapshot::get_snapshot))
        .routes(routes!(stream::stream))
        .routes(routes!(metrics::post_metrics))
}
