//! The headers a config change may carry about approvals: `X-Pennon-Comment` (the author's comment, kept with
//! a change request) and `X-Pennon-Bypass-Reason` (an admin applies the change at once in an environment
//! that requires approvals; the reason goes into the audit row).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::app::config::ApprovalSettings;
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::http::error::ApiError;
use crate::store::{ChangeMode, Role};

/// The author's comment on a change that becomes a change request (UTF-8 text).
pub const COMMENT_HEADER: &str = "x-pennon-comment";

/// An admin's reason to apply a change at once where approvals are required (UTF-8 text).
pub const BYPASS_HEADER: &str = "x-pennon-bypass-reason";

/// The approval headers as the OpenAPI document states them on every config change.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct ApprovalHeaders {
    /// A comment kept with the change request, where approvals are required
    #[param(rename = "X-Pennon-Comment")]
    comment: Option<String>,
    /// Admins: apply at once where approvals are required; the reason is audited
    #[param(rename = "X-Pennon-Bypass-Reason")]
    bypass_reason: Option<String>,
}

/// The approval headers of a config change, checked for form (400 naming the header) but not yet for who
/// may use them.
#[derive(Debug, Clone, Default)]
pub struct ChangeHeaders {
    comment: Option<String>,
    bypass: Option<String>,
}

fn text(headers: &HeaderMap, name: &str, max: u32) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let bad = |what: &str| ApiError::bad_field(name, format!("{name} must be {what}"));
    let text = std::str::from_utf8(value.as_bytes()).map_err(|_| bad("UTF-8 text"))?.trim();
    if text.is_empty() {
        return Err(bad("some text"));
    }
    if text.chars().count() > max as usize {
        return Err(bad(&format!("at most {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(bad("free of control characters"));
    }
    Ok(Some(text.to_owned()))
}

impl FromRequestParts<AppState> for ChangeHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let max = state.config.approvals.max_comment;
        Ok(ChangeHeaders {
            comment: text(&parts.headers, COMMENT_HEADER, max)?,
            bypass: text(&parts.headers, BYPASS_HEADER, max)?,
        })
    }
}

impl ChangeHeaders {
    /// How `caller`'s change is to be made: a bypass reason is for admins only, and only while the server
    /// allows it (403 otherwise, wherever the change goes); without one, the change becomes a change request
    /// where approvals are required.
    pub fn mode(self, caller: &Caller, settings: &ApprovalSettings) -> Result<ChangeMode, ApiError> {
        let Some(reason) = self.bypass else {
            return Ok(ChangeMode::Request { comment: self.comment, max_pending: settings.max_pending });
        };
        if caller.role < Role::Admin {
            return Err(ApiError::Forbidden(format!("only admins may bypass approvals ({BYPASS_HEADER})")));
        }
        if !settings.allow_bypass {
            return Err(ApiError::Forbidden(
                "bypassing approvals is turned off on this server (--allow-approval-bypass false)".into(),
            ));
        }
        Ok(ChangeMode::Bypass { reason })
    }
}

/// Refuses (403) a config change made outside the change-request path (a scheduled change, an import) by a
/// non-admin in an environment whose config changes need approval: there, an editor's change is a proposal.
pub(crate) async fn only_approved_paths(state: &AppState, role: Role, environment: &str) -> Result<(), ApiError> {
    if role >= Role::Admin {
        return Ok(());
    }
    let env = state.store.get_environment(environment).await?;
    if env.approvals_required > 0 {
        return Err(ApiError::Forbidden(format!(
            "config changes in {environment} need {} approval(s): propose the change through the config API, \
             which keeps it as a change request",
            env.approvals_required
        )));
    }
    Ok(())
}
