//! `GET /flags`: a page of flag definitions, filtered.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::super::common::{Page, decode_cursor, page_limit};
use super::FlagBody;
use crate::app::state::AppState;
use crate::auth::Viewer;
use crate::http::error::{ApiError, Json, ProblemBody, Query};
use crate::store::FlagFilter;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    /// Only flags with this tag.
    tag: Option<String>,
    /// Only flags whose key or name contains this text (case-insensitive).
    q: Option<String>,
    /// `true` lists archived flags instead of live ones.
    archived: Option<bool>,
    /// From a previous page's `next_cursor`.
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
}

/// List flags by key, a page at a time.
#[utoipa::path(get, path = "/api/v1/flags", tag = "flags", security(("bearer" = ["viewer"]), ("session_cookie" = ["viewer"])), params(ListParams),
    responses((status = 200, body = Page<FlagBody>), (status = 400, body = ProblemBody)))]
pub(super) async fn list_flags(
    _: Viewer,
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Page<FlagBody>>, ApiError> {
    let limit = page_limit(params.limit)?;
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = FlagFilter {
        tag: params.tag.filter(|t| !t.is_empty()),
        query: params.q.filter(|q| !q.is_empty()),
        archived: params.archived.unwrap_or(false),
        after,
        limit: limit + 1,
    };
    let records = state.store.list_flags(&filter).await?;
    let items = records.into_iter().map(FlagBody::from).collect();
    Ok(Json(Page::from_overfetch(items, limit, |f: &FlagBody| f.key.clone())))
}
