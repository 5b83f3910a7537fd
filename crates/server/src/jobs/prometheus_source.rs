//! Reading a guard's arms from Prometheus: each template of the guard's source, filled in for the arm
//! ([`crate::domain::guard_sources`]), is one instant query (`GET /api/v1/query`); its answer must be a
//! scalar or exactly one series with a finite, non-negative value. Anything else (no answer in
//! `--prometheus-timeout`, a non-2xx status, `"status": "error"`, no series, several series) is an error that
//! the guard shows as `source_error`, never a number.

use std::sync::OnceLock;
use std::time::Duration;

use pennon_engine::guards::{ArmStats, Statistic};
use serde::Deserialize;

use crate::domain::guard_sources::{Fill, PrometheusSource, render};

/// The client every query goes through, made at the first query with the `--prometheus-timeout`.
fn client(timeout: Duration) -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Pennon-Guards/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

/// Prometheus' answer to an instant query.
#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "snake_case")]
enum Data {
    Vector(Vec<Sample>),
    Scalar((f64, String)),
    /// A range vector or a string: not a number.
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct Sample {
    value: (f64, String),
}

/// Where one guard's queries go and how long each may take.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The Prometheus server (its base URL).
    pub url: &'a str,
    /// The `--prometheus-timeout`.
    pub timeout: Duration,
}

/// One instant query's single number.
pub async fn query(target: Target<'_>, promql: &str) -> Result<f64, String> {
    let endpoint = format!("{}/api/v1/query", target.url.trim_end_matches('/'));
    let url = url::Url::parse_with_params(&endpoint, [("query", promql)])
        .map_err(|e| format!("{endpoint} is not a URL: {e}"))?;
    let response =
        client(target.timeout).get(url).send().await.map_err(|e| format!("querying {endpoint}: {}", without_url(e)))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("reading the answer of {endpoint}: {}", without_url(e)))?;
    let answer: Answer =
        serde_json::from_slice(&body).map_err(|_| format!("{endpoint} answered {status} without Prometheus' JSON"))?;
    if answer.status != "success" {
        return Err(format!(
            "Prometheus refused `{promql}`: {} ({})",
            answer.error.as_deref().unwrap_or("no reason given"),
            answer.error_type.as_deref().unwrap_or("error")
        ));
    }
    let text = match answer.data {
        Some(Data::Scalar((_, v))) => v,
        Some(Data::Vector(mut samples)) if samples.len() == 1 => samples.remove(0).value.1,
        Some(Data::Vector(samples)) if samples.is_empty() => {
            return Err(format!("`{promql}` found no series"));
        }
        Some(Data::Vector(samples)) => {
            return Err(format!("`{promql}` returned {} series; aggregate it to one, e.g. with sum()", samples.len()));
        }
        Some(Data::Other) | None => {
            return Err(format!("`{promql}` is not an instant vector or scalar"));
        }
    };
    let value: f64 = text.parse().map_err(|_| format!("`{promql}` returned {text:?}, not a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "`{promql}` returned {text}; a count or sum since the guard's start is finite and not negative"
        ));
    }
    Ok(value)
}

/// A reqwest error without the URL it carries (the URL is said once by the caller).
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    format!("{kind} ({})", e.without_url())
}

/// One arm's cumulative statistics, read with the source's templates filled in for `fill`: for a rate,
/// requests are its exposures and events its count (each event a value of 1); for a mean, the count, sum and
/// sum of squares of the observed values.
pub async fn arm(
    target: Target<'_>,
    source: &PrometheusSource,
    statistic: Statistic,
    fill: Fill<'_>,
) -> Result<ArmStats, String> {
    let mut values = Vec::with_capacity(3);
    for (field, template) in source.templates(statistic) {
        let template = template.ok_or_else(|| format!("the source has no `{field}` template"))?;
        let value = query(target, &render(template, fill))
            .await
            .map_err(|e| format!("{field}, variant {}: {e}", fill.variant))?;
        values.push(value);
    }
    let whole = |v: f64| v.round() as u64;
    Ok(match statistic {
        Statistic::Rate => {
            let (events, requests) = (whole(values[0]), whole(values[1]));
            ArmStats { exposures: requests, count: events, sum: events as f64, sum_squares: events as f64 }
        }
        Statistic::Mean => {
            let count = whole(values[1]);
            ArmStats { exposures: count, count, sum: values[0], sum_squares: values[2] }
        }
    })
}
