//! `/flags/{flag}/environments/{env}/scheduled-changes`: config changes kept for a time and applied then by
//! the leader (`crate::jobs::scheduled_changes`) as ordinary versioned, audited changes.
//!
//! A change is written as the immediate edit's body with a `kind` (`toggle`, `default`, `targets`, `rules`,
//! `config`), made against the current config and validated as the immediate edit would be when it is
//! scheduled: an invalid change is refused then (422 naming `change.<field>`), not at its time.

mod handlers;

use pennon_engine::{Flag, FlagConfig, Problem, Rule, Serve};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::rfc3339;
use super::configs::replace::ReplaceConfig;
use super::configs::serve::{SetDefault, SetTargets};
use super::configs::toggle::Toggle;
use crate::app::state::AppState;
use crate::domain::scheduled::{ScheduleState, ScheduledEdit};
use crate::http::error::ApiError;
use crate::store::{ScheduledChange, StoreError};

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handlers::list, handlers::create)).routes(routes!(
        handlers::get_one,
        handlers::update,
        handlers::cancel
    ))
}

/// The new rules of a config, replacing all of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRules {
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// The version this change is based on.
    #[serde(default, deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

/// A config change to schedule: the body of the immediate edit, with its `kind`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeRequest {
    /// As `POST .../toggle`; without `enabled`, the flag's state when scheduled is flipped.
    Toggle(Toggle),
    /// As `PUT .../default`.
    Default(SetDefault),
    /// As `PUT .../targets`.
    Targets(SetTargets),
    /// The rules, all replaced.
    Rules(SetRules),
    /// As `PUT .../{env}`: the whole config.
    Config {
        /// The new config.
        config: ReplaceConfig,
    },
}

/// A scheduled change as the API answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduledChangeBody {
    /// Its id.
    pub id: i64,
    /// The flag.
    pub flag: String,
    /// The environment.
    pub environment: String,
    /// pending, applied, failed or cancelled.
    pub state: ScheduleState,
    /// When it is due (RFC 3339).
    pub at: String,
    /// The change, as it will be applied (a rollout as its split, a toggle as the state it sets).
    pub change: ScheduledEdit,
    /// Free text.
    pub comment: String,
    /// Who scheduled it.
    pub author: String,
    /// The config version it was based on.
    pub based_on_version: u64,
    /// The scheduled change's own version (`ETag`; `If-Match` of edits and cancelling).
    pub version: u64,
    /// The config version it produced, once applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_version: Option<u64>,
    /// Why it was not applied, once failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Who last changed it.
    pub updated_by: String,
    /// When it was applied, failed or cancelled (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
}

impl From<ScheduledChange> for ScheduledChangeBody {
    fn from(c: ScheduledChange) -> Self {
        ScheduledChangeBody {
            id: c.id,
            flag: c.flag,
            environment: c.environment,
            state: c.state,
            at: rfc3339(c.at),
            change: c.change,
            comment: c.comment,
            author: c.author,
            based_on_version: c.based_on,
            version: c.version,
            applied_version: c.applied_version,
            failure: c.failure,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            updated_by: c.updated_by,
            resolved_at: c.resolved_at.map(rfc3339),
        }
    }
}

fn invalid(path: &str, message: &str) -> StoreError {
    StoreError::Invalid(vec![Problem { path: path.to_owned(), message: message.to_owned() }])
}

/// A rule with this id could not be addressed: `.../rules/reorder` is the reorder action.
fn check_rule_ids(rules: &[Rule]) -> Result<(), StoreError> {
    match rules.iter().position(|r| r.id == "reorder") {
        Some(i) => {
            Err(invalid(&format!("rules[{i}].id"), "\"reorder\" is reserved: it would clash with .../rules/reorder"))
        }
        None => Ok(()),
    }
}

impl ChangeRequest {
    /// The config version the request names as its base, if any.
    fn version(&self) -> Option<u64> {
        match self {
            ChangeRequest::Toggle(b) => b.version,
            ChangeRequest::Default(b) => b.version,
            ChangeRequest::Targets(b) => b.version,
            ChangeRequest::Rules(b) => b.version,
            ChangeRequest::Config { config } => config.version,
        }
    }

    /// Where problems with this change are reported: `change.` or, for a whole config, `change.config.`.
    fn prefix(&self) -> &'static str {
        match self {
            ChangeRequest::Config { .. } => "change.config.",
            _ => "change.",
        }
    }

    /// Resolves the request against the flag and its current config into the change that is kept.
    fn resolve(self, at: &(String, String), flag: &Flag, current: &FlagConfig) -> Result<ScheduledEdit, StoreError> {
        Ok(match self {
            ChangeRequest::Toggle(t) => ScheduledEdit::Toggle { enabled: t.enabled.unwrap_or(!current.enabled) },
            ChangeRequest::Default(d) => {
                let default = match (d.variant, d.split, d.rollout) {
                    (Some(v), None, None) => Serve::Variant(v),
                    (None, Some(s), None) => Serve::Split(s),
                    (None, None, Some(r)) => Serve::Split(r.into_split(flag)?),
                    _ => return Err(invalid("default", "give exactly one of variant, split or rollout")),
                };
                ScheduledEdit::Default { default }
            }
            ChangeRequest::Targets(t) => ScheduledEdit::Targets { targets: t.targets },
            ChangeRequest::Rules(r) => {
                check_rule_ids(&r.rules)?;
                ScheduledEdit::Rules { rules: r.rules }
            }
            ChangeRequest::Config { config: c } => {
                if c.flag.as_ref().is_some_and(|f| *f != at.0) {
                    return Err(invalid("flag", "flag does not match the flag in the path"));
                }
                if c.environment.as_ref().is_some_and(|e| *e != at.1) {
                    return Err(invalid("environment", "environment does not match the environment in the path"));
                }
                check_rule_ids(&c.rules)?;
                ScheduledEdit::Config {
                    enabled: c.enabled,
                    off_variant: c.off_variant,
                    targets: c.targets,
                    rules: c.rules,
                    default: c.default,
                    prerequisites: c.prerequisites,
                }
            }
        })
    }
}

/// Reports a change's problems under the request's field (`change.rules[0].serve`, ...).
fn under(prefix: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::Invalid(problems) => ApiError::Invalid(
            problems.into_iter().map(|p| Problem { path: format!("{prefix}{}", p.path), message: p.message }).collect(),
        ),
        other => other.into(),
    }
}
