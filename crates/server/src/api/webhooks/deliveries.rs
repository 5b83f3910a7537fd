//! `/webhooks/{id}/deliveries` and `/webhooks/{id}/test` (admin): a hook's delivery log, and a test event.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::common::{Page, cursor_param, not_our_cursor, page_limit, rfc3339};
use crate::app::state::AppState;
use crate::auth::Admin;
use crate::http::error::{ApiError, Json, Path, ProblemBody, Query};
use crate::store::{Delivery, DeliveryStatus};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_deliveries)).routes(routes!(send_test))
}

/// One delivery of one change to a hook.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryBody {
    /// The position in the log.
    pub id: i64,
    /// Sent as `Pennon-Delivery`, the same on every attempt.
    pub delivery_id: String,
    /// The audit row delivered (absent for a test event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<i64>,
    /// The change's action; `webhook.test` for a test event.
    pub action: String,
    /// `pending`, `delivered` or `failed`.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// RFC 3339, when queued.
    pub created_at: String,
    /// RFC 3339, when it is tried next (pending only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// RFC 3339, the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<String>,
    /// The HTTP status of the last answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i64>,
    /// The start of the last answer's body (`--webhook-response-excerpt` bytes at most).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_response: Option<String>,
    /// Why the last attempt got no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl From<Delivery> for DeliveryBody {
    fn from(d: Delivery) -> Self {
        DeliveryBody {
            id: d.id,
            delivery_id: d.delivery_id,
            audit_id: d.audit_id,
            action: d.action,
            status: d.status,
            attempts: d.attempts,
            created_at: rfc3339(d.created_at),
            next_attempt_at: (d.status == DeliveryStatus::Pending).then(|| rfc3339(d.next_attempt_at)),
            last_attempt_at: d.last_attempt_at.map(rfc3339),
            last_status: d.last_status,
            last_response: d.last_response,
            last_error: d.last_error,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveryParams {
    /// Only deliveries in this state.
    status: Option<DeliveryStatus>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A hook's deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id"), DeliveryParams), security(("bearer" = ["admin"])),
    responses((status = 200, body = Page<DeliveryBody>), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn list_deliveries(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(params): Query<DeliveryParams>,
) -> Result<Json<Page<DeliveryBody>>, ApiError> {
    let limit = page_limit(params.limit)?;
    let before_id = match cursor_param(params.cursor.as_deref())? {
        None => None,
        Some(position) => Some(position.parse::<i64>().map_err(|_| not_our_cursor())?),
    };
    state.store.get_webhook(id).await?;
    let items = state.store.list_deliveries(id, params.status, before_id, limit + 1).await?;
    let items = items.into_iter().map(DeliveryBody::from).collect();
    Ok(Json(Page::from_overfetch(items, limit, |d| d.id.to_string())))
}

/// Queue a test event for a hook (`action` `webhook.test`, no audit row); it is sent after the hook's
/// earlier deliveries.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")), security(("bearer" = ["admin"])),
    responses((status = 202, body = DeliveryBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn send_test(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let delivery = state.store.queue_test_delivery(id).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryBody::from(delivery))))
}
