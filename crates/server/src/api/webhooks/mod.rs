//! `/webhooks` (admin): outgoing webhooks. Each audited change a hook's filters select is queued for it in
//! the change's own transaction and posted, signed, by the leader replica (`jobs::webhooks`); the hook's
//! delivery log and a test event are in [`deliveries`].

mod deliveries;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::{check_key, check_text, rfc3339};
use crate::app::state::AppState;
use crate::auth::{Admin, secrets};
use crate::domain::webhooks::{HookFilter, HookFormat, is_action_pattern};
use crate::http::error::{ApiError, Json, Path, ProblemBody};
use crate::store::{Webhook, WebhookDraft};

/// The prefix of generated webhook secrets.
const SECRET_PREFIX: &str = "pnn_whs_";
/// The longest URL a hook may post to.
const MAX_URL: usize = 2048;
/// The shortest and longest secret a caller may choose.
const SECRET_LENGTH: std::ops::RangeInclusive<usize> = 16..=256;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .merge(deliveries::router())
}

/// A webhook (never its secret, except once at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    /// Id.
    pub id: i64,
    /// Where deliveries are posted.
    pub url: String,
    /// Only changes in these environments (empty: all).
    pub environments: Vec<String>,
    /// Only changes of these flags (empty: all).
    pub flags: Vec<String>,
    /// Only changes of flags carrying one of these tags (empty: all).
    pub tags: Vec<String>,
    /// Only these actions, e.g. `config.toggle` or `config.*` (empty: all).
    pub actions: Vec<String>,
    /// What is posted.
    pub format: HookFormat,
    /// Whether changes are queued and sent.
    pub enabled: bool,
    /// Failed attempts since the last delivered one.
    pub failures: i64,
    /// Increases with every change.
    pub version: u64,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Webhook> for WebhookBody {
    fn from(w: Webhook) -> Self {
        WebhookBody {
            id: w.id,
            url: w.url,
            environments: w.filter.environments,
            flags: w.filter.flags,
            tags: w.filter.tags,
            actions: w.filter.actions,
            format: w.format,
            enabled: w.enabled,
            failures: w.failures,
            version: w.version,
            created_by: w.created_by,
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }
    }
}

/// Every webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub items: Vec<WebhookBody>,
}

/// A new webhook. Each filter left empty selects everything; those given must all hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `http://` or `https://` URL deliveries are posted to (required).
    #[schema(max_length = 2048)]
    #[serde(default)]
    pub url: String,
    /// The HMAC-SHA256 key deliveries are signed with (16 to 256 characters); generated when omitted, and
    /// shown once, in the answer.
    #[schema(min_length = 16, max_length = 256)]
    pub secret: Option<String>,
    /// Environment keys.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Flag keys.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Flag tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Actions (`config.toggle`), or every action of a kind of object (`config.*`).
    #[serde(default)]
    pub actions: Vec<String>,
    /// `pennon` (default) or `slack`.
    #[serde(default)]
    pub format: HookFormat,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Changes to a webhook; what is omitted stays.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// New URL.
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// A new secret (16 to 256 characters).
    #[schema(min_length = 16, max_length = 256)]
    pub secret: Option<String>,
    /// New environment filter.
    pub environments: Option<Vec<String>>,
    /// New flag filter.
    pub flags: Option<Vec<String>>,
    /// New tag filter.
    pub tags: Option<Vec<String>>,
    /// New action filter.
    pub actions: Option<Vec<String>>,
    /// New format.
    pub format: Option<HookFormat>,
    /// Enable or disable; enabling clears the count of failures.
    pub enabled: Option<bool>,
}

/// A webhook just created, with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// The signing secret. It cannot be shown again.
    pub secret: String,
    /// The webhook.
    #[serde(flatten)]
    pub webhook: WebhookBody,
}

/// List webhooks.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = ["admin"])),
    responses((status = 200, body = WebhookList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_webhooks(_: Admin, State(state): State<AppState>) -> Result<Json<WebhookList>, ApiError> {
    Ok(Json(WebhookList { items: state.store.list_webhooks().await?.into_iter().map(Into::into).collect() }))
}

/// Create a webhook.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = CreatedWebhook), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 409, body = ProblemBody, description = "Too many webhooks"),
        (status = 422, body = ProblemBody)))]
async fn create_webhook(
    caller: Admin,
    State(state): State<AppState>,
    Json(body): Json<CreateWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    let max_items = state.config.webhook_max_filter_items;
    check_url(&body.url)?;
    if let Some(secret) = &body.secret {
        check_secret(secret)?;
    }
    let filter = HookFilter {
        environments: check_keys("environments", body.environments, max_items)?,
        flags: check_keys("flags", body.flags, max_items)?,
        tags: check_tags(body.tags, max_items)?,
        actions: check_actions(body.actions, max_items)?,
    };
    let draft = WebhookDraft { url: body.url, filter, format: body.format, enabled: body.enabled.unwrap_or(true) };
    let secret = body.secret.unwrap_or_else(|| secrets::generate(SECRET_PREFIX));
    let hook = state.store.create_webhook(&draft, &secret, state.config.max_webhooks, caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(CreatedWebhook { secret, webhook: hook.into() })))
}

/// Get a webhook.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = WebhookBody), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn get_webhook(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<WebhookBody>, ApiError> {
    Ok(Json(state.store.get_webhook(id).await?.into()))
}

/// Change a webhook.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    request_body = UpdateWebhook, security(("bearer" = ["admin"])),
    responses((status = 200, body = WebhookBody), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody)))]
async fn update_webhook(
    caller: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<UpdateWebhook>,
) -> Result<Json<WebhookBody>, ApiError> {
    let max_items = state.config.webhook_max_filter_items;
    if let Some(url) = &body.url {
        check_url(url)?;
    }
    if let Some(secret) = &body.secret {
        check_secret(secret)?;
    }
    let environments = body.environments.map(|v| check_keys("environments", v, max_items)).transpose()?;
    let flags = body.flags.map(|v| check_keys("flags", v, max_items)).transpose()?;
    let tags = body.tags.map(|v| check_tags(v, max_items)).transpose()?;
    let actions = body.actions.map(|v| check_actions(v, max_items)).transpose()?;
    let current = state.store.get_webhook(id).await?;
    let filter = HookFilter {
        environments: environments.unwrap_or(current.filter.environments),
        flags: flags.unwrap_or(current.filter.flags),
        tags: tags.unwrap_or(current.filter.tags),
        actions: actions.unwrap_or(current.filter.actions),
    };
    let draft = WebhookDraft {
        url: body.url.unwrap_or(current.url),
        filter,
        format: body.format.unwrap_or(current.format),
        enabled: body.enabled.unwrap_or(current.enabled),
    };
    Ok(Json(state.store.update_webhook(id, &draft, body.secret.as_deref(), caller.actor()).await?.into()))
}

/// Delete a webhook and its delivery log (deliveries not yet sent are dropped).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path, description = "Webhook id")),
    security(("bearer" = ["admin"])),
    responses((status = 204), (status = 403, body = ProblemBody), (status = 404, body = ProblemBody)))]
async fn delete_webhook(
    caller: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_webhook(id, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A hook's URL: absolute `http://` (or `https://`, when the server is built with TLS) with a host.
fn check_url(text: &str) -> Result<(), ApiError> {
    if text.is_empty() {
        return Err(ApiError::invalid("url", "url is required"));
    }
    if text.len() > MAX_URL {
        return Err(ApiError::invalid("url", format!("url must be at most {MAX_URL} bytes")));
    }
    let url = url::Url::parse(text).map_err(|e| ApiError::invalid("url", format!("url is not a URL: {e}")))?;
    match url.scheme() {
        "http" => {}
        "https" if cfg!(feature = "tls") => {}
        "https" => {
            return Err(ApiError::invalid("url", "url: https needs a server built with the `tls` feature"));
        }
        _ => return Err(ApiError::invalid("url", "url must be an http:// or https:// URL")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::invalid("url", "url must name a host"));
    }
    Ok(())
}

fn check_secret(secret: &str) -> Result<(), ApiError> {
    if !SECRET_LENGTH.contains(&secret.chars().count()) {
        return Err(ApiError::invalid("secret", "secret must be 16 to 256 characters"));
    }
    check_text("secret", secret, false)
}

fn check_len(field: &str, items: &[String], max: usize) -> Result<(), ApiError> {
    if items.len() > max {
        return Err(ApiError::invalid(field, format!("{field} has at most {max} entries")));
    }
    Ok(())
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn check_keys(field: &str, keys: Vec<String>, max: usize) -> Result<Vec<String>, ApiError> {
    check_len(field, &keys, max)?;
    for (i, key) in keys.iter().enumerate() {
        check_key(&format!("{field}[{i}]"), key)?;
    }
    Ok(dedup(keys))
}

fn check_tags(tags: Vec<String>, max: usize) -> Result<Vec<String>, ApiError> {
    check_len("tags", &tags, max)?;
    for (i, tag) in tags.iter().enumerate() {
        let field = format!("tags[{i}]");
        if tag.is_empty() || tag.chars().count() > 200 {
            return Err(ApiError::invalid(field, "a tag is 1 to 200 characters"));
        }
        check_text(&field, tag, false)?;
    }
    Ok(dedup(tags))
}

fn check_actions(actions: Vec<String>, max: usize) -> Result<Vec<String>, ApiError> {
    check_len("actions", &actions, max)?;
    for (i, action) in actions.iter().enumerate() {
        if !is_action_pattern(action) {
            return Err(ApiError::invalid(
                format!("actions[{i}]"),
                "an action is lowercase words joined by dots, e.g. config.toggle, or ends in .* (config.*)",
            ));
        }
    }
    Ok(dedup(actions))
}
