//! The body of a guard's create and update, and its checks against the flag.

use std::time::Duration;

use pennon_engine::guards::{
    DEFAULT_ALPHA, DEFAULT_MIN_SAMPLES, DEFAULT_TUNING_SAMPLES, Direction, GuardSpec, Statistic, Threshold,
};
use pennon_engine::{Flag, FlagKind, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::config::ServeConfig;
use crate::domain::guard_sources::GuardSource;
use crate::http::error::ApiError;
use crate::ingest::BUCKET_MS;
use crate::store::{GuardAction, GuardDraft};

/// The window when none is given.
pub const DEFAULT_WINDOW: &str = "1h";
/// The longest window: metric buckets are not kept (by default) much longer.
const MAX_WINDOW: Duration = Duration::from_hours(30 * 24);

/// What a person sets on a guard; also a guard of a flags document (without `version`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardInput {
    /// The tracked metric's name, as `track()` reports it.
    pub metric: String,
    /// `rate` (events per exposure, e.g. an error rate) or `mean` (average tracked value, e.g. a latency).
    #[schema(value_type = crate::api::rules::GuardStatistic, example = "rate")]
    pub statistic: Statistic,
    /// `higher_is_worse` or `lower_is_worse`.
    #[schema(value_type = crate::api::rules::GuardDirection, example = "higher_is_worse")]
    pub direction: Direction,
    /// `{"absolute": 0.02}` or `{"relative": 0.1}` (more than 10% worse than the control).
    #[schema(value_type = crate::api::rules::GuardThreshold)]
    pub threshold: Threshold,
    /// Samples each compared arm needs before a verdict (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub min_samples: Option<u64>,
    /// Significance level (default 0.05).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Sample size per arm at which the test is sharpest (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub tuning_samples: Option<u64>,
    /// The variant under watch (the treatment).
    pub variant: String,
    /// The variant it is compared with. Required for a relative threshold and for `halt_rollout`, except on
    /// a boolean flag, where it defaults to the other variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// How far back the guard's charts look by default: `30m`, `1h`, `1d` (default `1h`; 10s to 30 days). The
    /// test itself counts all data since the guard's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// `disable_flag` (default) or `halt_rollout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<GuardAction>,
    /// Where the guard reads its numbers: `{"kind": "sdk"}` (default, the SDK metrics) or
    /// `{"kind": "prometheus", "url"?, "events", "requests"}` (rate) / `{..., "sum", "count", "sum_squares"}`
    /// (mean): PromQL templates with `{{flag}}`, `{{environment}}`, `{{variant}}` and `{{range}}`.
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::guard_sources::GuardSource>)]
    pub source: Option<GuardSource>,
    /// The version this change is based on (or `If-Match`); updates only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "pennon_engine::whole_numbers::optional")]
    pub version: Option<u64>,
}

fn problem(problems: &mut Vec<Problem>, path: &str, message: impl Into<String>) {
    problems.push(Problem { path: path.to_owned(), message: message.into() });
}

/// Parses a window, in milliseconds.
pub fn parse_window(text: &str) -> Result<i64, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| format!("not a duration like 10m or 1h: {e}"))?;
    if d < Duration::from_millis(BUCKET_MS.unsigned_abs()) || d > MAX_WINDOW {
        return Err("must be between 10s and 30 days".into());
    }
    Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The other variant of a boolean flag.
fn other_variant<'a>(flag: &'a Flag, variant: &str) -> Option<&'a str> {
    if flag.kind != FlagKind::Boolean {
        return None;
    }
    flag.variants.iter().map(|v| v.key.as_str()).find(|k| *k != variant)
}

/// A guard's definition as a document states it: every default filled in, so that the same guard always
/// reads the same.
pub fn input_of(draft: &GuardDraft) -> GuardInput {
    let spec = draft.spec.clone();
    GuardInput {
        metric: spec.metric,
        statistic: spec.statistic,
        direction: spec.direction,
        threshold: spec.threshold,
        min_samples: Some(spec.min_samples),
        alpha: Some(spec.alpha),
        tuning_samples: Some(spec.tuning_samples),
        variant: draft.variant.clone(),
        control: draft.control.clone(),
        window: Some(super::window_text(draft.window_ms)),
        action: Some(draft.action),
        // SDK metrics, the default, is left out, so that documents without sources read as before.
        source: match &draft.source {
            GuardSource::Sdk => None,
            source @ GuardSource::Prometheus(_) => Some(source.clone()),
        },
        version: None,
    }
}

/// Checks the input against the flag and builds the guard, or answers 422 naming every bad field.
pub fn draft(input: GuardInput, flag: &Flag, config: &ServeConfig) -> Result<GuardDraft, ApiError> {
    let spec = GuardSpec {
        metric: input.metric,
        statistic: input.statistic,
        direction: input.direction,
        threshold: input.threshold,
        min_samples: input.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES),
        alpha: input.alpha.unwrap_or(DEFAULT_ALPHA),
        tuning_samples: input.tuning_samples.unwrap_or(DEFAULT_TUNING_SAMPLES),
    };
    let action = input.action.unwrap_or(GuardAction::DisableFlag);
    let mut problems = spec.validate();
    let known = |key: &str| flag.variants.iter().any(|v| v.key == key);
    if !known(&input.variant) {
        problem(&mut problems, "variant", format!("flag \"{}\" has no variant \"{}\"", flag.key, input.variant));
    }
    let needs_control = matches!(spec.threshold, Threshold::Relative(_)) || action == GuardAction::HaltRollout;
    let control = match input.control {
        Some(control) => {
            if !known(&control) {
                problem(&mut problems, "control", format!("flag \"{}\" has no variant \"{control}\"", flag.key));
            } else if control == input.variant {
                problem(&mut problems, "control", "must differ from variant");
            }
            Some(control)
        }
        None if needs_control => {
            let other = other_variant(flag, &input.variant).map(str::to_owned);
            if other.is_none() {
                let why = if action == GuardAction::HaltRollout && !matches!(spec.threshold, Threshold::Relative(_)) {
                    "required by halt_rollout (the treatment's share goes to it)"
                } else {
                    "required for a relative threshold (except on boolean flags, where it is the other variant)"
                };
                problem(&mut problems, "control", why);
            }
            other
        }
        None => None,
    };
    let window = input.window.as_deref().unwrap_or(DEFAULT_WINDOW);
    let window_ms = parse_window(window).unwrap_or_else(|message| {
        problem(&mut problems, "window", message);
        0
    });
    let source = input.source.unwrap_or_default();
    if let GuardSource::Prometheus(p) = &source {
        problems.extend(p.validate(spec.statistic, config.prometheus_url.is_some(), config.prometheus_max_query_bytes));
    }
    if problems.is_empty() {
        Ok(GuardDraft { spec, variant: input.variant, control, window_ms, action, source })
    } else {
        Err(ApiError::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_window;

    #[test]
    fn windows_parse_within_bounds() {
        assert_eq!(parse_window("1h"), Ok(3_600_000));
        assert_eq!(parse_window("10m"), Ok(600_000));
        assert!(parse_window("5s").is_err());
        assert!(parse_window("60d").is_err());
        assert!(parse_window("soon").is_err());
    }
}
