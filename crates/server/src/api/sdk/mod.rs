//! `/sdk`: what server-side SDKs use, with a server key — the snapshot, the stream of changes, and metrics.
//! The contract is `docs/sdk-protocol.md`.

mod current;
mod metrics;
pub mod relay;
mod snapshot;
mod stream;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::state::AppState;

/// Most entries (exposures and metrics together) in one metrics batch.
pub const MAX_METRICS_ENTRIES: usize = metrics::MAX_ENTRIES;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(snapshot::get_snapshot))
        .routes(routes!(stream::stream))
        .routes(routes!(metrics::post_metrics))
        .routes(routes!(relay::get_relay_info))
}
