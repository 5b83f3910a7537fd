//! The analysis periods of a split (runs of constant weights in the config's history) and the choice of the
//! period and the control a results request asks for, shared by the readout and its timeline.

use pennon_engine::{FlagConfig, Serve, Weight};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::common::rfc3339;
use crate::app::state::AppState;
use crate::http::error::ApiError;

/// `{flag}` and `{env}` of the results routes.
#[derive(Debug, Deserialize)]
pub(super) struct ResultsPath {
    pub flag: String,
    pub env: String,
}

/// A period of constant weights.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Period {
    /// RFC 3339: when the weights were set.
    pub from: String,
    /// RFC 3339: when they changed; absent for the current period.
    pub until: Option<String>,
    /// The split's weights, in units of 1/100000.
    #[schema(value_type = Vec<Object>)]
    pub weights: Vec<Weight>,
}

pub(super) fn split_weights(config: &FlagConfig) -> Option<Vec<Weight>> {
    match &config.default {
        Serve::Split(split) => Some(split.weights.clone()),
        Serve::Variant(_) => None,
    }
}

/// A period of constant weights, in Unix milliseconds.
#[derive(Debug, Clone)]
pub(super) struct Span {
    pub from: i64,
    pub until: Option<i64>,
    pub weights: Vec<Weight>,
}

impl From<&Span> for Period {
    fn from(s: &Span) -> Self {
        Period { from: rfc3339(s.from), until: s.until.map(rfc3339), weights: s.weights.clone() }
    }
}

/// The periods of constant weights, newest first, from the config's history (newest first, current included).
fn periods_of(current: &FlagConfig, history: &[(Option<Vec<Weight>>, i64)], now_from: i64) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut weights = split_weights(current);
    let mut from = now_from;
    let mut until: Option<i64> = None;
    for (version_weights, at) in history {
        if *version_weights == weights {
            from = *at;
            continue;
        }
        if let Some(w) = weights.take() {
            out.push(Span { from, until, weights: w });
        }
        until = Some(from);
        weights.clone_from(version_weights);
        from = *at;
    }
    if let Some(w) = weights {
        out.push(Span { from, until, weights: w });
    }
    out
}

/// What a results request analyses: the period, every period (newest first), the split's variants in order
/// and the control.
pub(super) struct Analysis {
    pub period: Span,
    pub periods: Vec<Span>,
    pub order: Vec<String>,
    pub control: String,
}

/// The period `index` (0 the current) of the flag's split in the environment, and the control: `control` when
/// given (a variant of the split), else the off variant when the split serves it, else its first variant.
/// 409 when the config does not serve a split.
pub(super) async fn analysis(
    state: &AppState,
    at: &ResultsPath,
    index: Option<usize>,
    control: Option<String>,
) -> Result<Analysis, ApiError> {
    let current = state.store.get_config(&at.flag, &at.env).await?;
    if split_weights(&current.config).is_none() {
        return Err(ApiError::Conflict(format!("{} does not serve a split in {}", at.flag, at.env)));
    }
    let history = state.store.config_history(&at.flag, &at.env, None, state.config.results.history).await?;
    let history: Vec<(Option<Vec<Weight>>, i64)> =
        history.iter().map(|v| (split_weights(&v.config), v.created_at)).collect();
    let periods = periods_of(&current.config, &history, current.updated_at);
    let index = index.unwrap_or(0);
    let period = periods.get(index).cloned().ok_or_else(|| {
        ApiError::invalid("period", format!("there are {} periods (0 is the current)", periods.len()))
    })?;
    let order: Vec<String> = period.weights.iter().map(|w| w.variant.clone()).collect();
    let control = match control {
        Some(c) if order.contains(&c) => c,
        Some(_) => return Err(ApiError::invalid("control", "must be a variant of the split")),
        None if order.contains(&current.config.off_variant) => current.config.off_variant.clone(),
        None => order.first().cloned().unwrap_or_default(),
    };
    Ok(Analysis { period, periods, order, control })
}
