//! The webhook sender: every tick (`--webhook-tick`), on the one replica that holds the
//! [`WEBHOOKS`](crate::jobs::leader::WEBHOOKS) lock, the oldest pending delivery of each enabled hook is
//! posted, signed, if it is due; a hook's next delivery waits until the one before it is delivered or given
//! up, so each receiver gets its changes in order. A failed attempt is tried again after a wait that doubles
//! from `--webhook-backoff-base` up to `--webhook-backoff-cap`, until `--webhook-max-age`; then the delivery
//! is marked failed. A hook that fails `--webhook-disable-after` attempts in a row, or gives a delivery up,
//! is disabled, with an audit row by `system:webhooks`.
//!
//! The queue lives in the database, written in each change's own transaction, so a restart or a change of
//! leader picks up where the last one stopped. Two replicas that both believe they lead for a moment may send
//! a delivery twice: receivers tell repeats by the `Pennon-Delivery` header.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::app::config::ServeConfig;
use crate::app::state::AppState;
use crate::domain::webhooks::{
    Change, DELIVERY_HEADER, HookFormat, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, summary,
};
use crate::jobs::leader::Leader;
use crate::store::{Attempt, AuditEntry, DueDelivery, StoreResult, now_millis};
use crate::telemetry::metrics::WebhookOutcome;

/// Most deliveries (one per hook) sent at once.
const BATCH: u32 = 32;
/// Most batches per tick: a hook with a backlog sends up to this many of its deliveries before the tick ends.
const BATCHES_PER_TICK: usize = 64;
/// How often the delivery log is pruned (`--webhook-log-retention`), and how many rows at most each time.
const PRUNE_EVERY: Duration = Duration::from_mins(10);
const PRUNE_ROWS: u32 = 10_000;

/// Runs a round every tick while this replica holds `leader`, until `stop`; then gives leadership up.
pub async fn run(state: AppState, leader: Leader, mut stop: watch::Receiver<bool>) {
    let client = match client(&state.config) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "the webhook client cannot be built; webhooks are not sent");
            return;
        }
    };
    let tick = state.config.webhook_tick;
    let mut pruned = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        if !leader.is_leader() {
            continue;
        }
        // Shutdown does not wait for receivers: an attempt cut short is made again, with the same delivery id.
        tokio::select! {
            sent = round(&state, &client) => if let Err(e) = sent {
                tracing::debug!(error = %e, "webhook round failed; trying again next tick");
            },
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = tokio::time::Instant::now();
            let before = now_millis() - state.config.webhook_log_retention.as_millis() as i64;
            if let Err(e) = state.store.prune_deliveries(before, PRUNE_ROWS).await {
                tracing::debug!(error = %e, "webhook delivery log pruning failed");
            }
        }
    }
    leader.stop().await;
}

/// The HTTP client deliveries are posted with: the `--webhook-timeout`, no redirects followed.
pub fn client(config: &ServeConfig) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(config.webhook_timeout)
        .connect_timeout(config.webhook_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Pennon-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// One round: sends what is due, batch after batch while deliveries succeed. Returns how many attempts
/// were made.
pub async fn round(state: &AppState, client: &reqwest::Client) -> StoreResult<usize> {
    let mut attempts = 0;
    for _ in 0..BATCHES_PER_TICK {
        let due = state.store.due_deliveries(now_millis(), BATCH).await?;
        if due.is_empty() {
            break;
        }
        attempts += due.len();
        let sent = futures_util::future::join_all(due.iter().map(|d| send(state, client, d))).await;
        let mut delivered = false;
        for outcome in sent {
            delivered |= outcome? == WebhookOutcome::Delivered;
        }
        if !delivered {
            break;
        }
    }
    Ok(attempts)
}

/// What a delivery posts: its body, built from the audit row at the time of sending.
pub fn body(due: &DueDelivery, entry: Option<&AuditEntry>) -> Value {
    let d = &due.delivery;
    let text = match entry {
        Some(e) => summary(&Change {
            actor: &e.actor,
            action: &e.action,
            resource: &e.resource,
            resource_key: &e.resource_key,
            flag: e.flag.as_deref(),
            environment: e.environment.as_deref(),
            after: e.after.as_ref(),
        }),
        None => format!("Test event from Pennon for webhook {}", d.hook_id),
    };
    match due.format {
        HookFormat::Slack => json!({ "text": text }),
        HookFormat::Pennon => json!({
            "delivery": d.delivery_id,
            "webhook": d.hook_id,
            "action": d.action,
            "summary": text,
            "audit": entry.map(audit_json),
        }),
    }
}

/// An audit row as the audit API shows it.
fn audit_json(e: &AuditEntry) -> Value {
    let at = crate::api::common::rfc3339(e.at);
    let mut v = json!({
        "id": e.id, "at": at, "actor": e.actor, "action": e.action, "resource": e.resource,
        "resource_key": e.resource_key,
    });
    let object = v.as_object_mut().expect("an object");
    let optional = [
        ("flag", e.flag.clone().map(Value::String)),
        ("environment", e.environment.clone().map(Value::String)),
        ("version", e.version.map(Value::from)),
        ("before", e.before.clone()),
        ("after", e.after.clone()),
        ("detail", e.detail.clone()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            object.insert(name.to_owned(), value);
        }
    }
    v
}

/// The wait after the `attempts`-th failed attempt: base × 2^(attempts−1), at most the cap.
pub fn backoff(config: &ServeConfig, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX).min(40);
    config.webhook_backoff_base.saturating_mul(2u32.saturating_pow(doublings)).min(config.webhook_backoff_cap)
}

/// One attempt of one delivery, recorded.
async fn send(state: &AppState, client: &reqwest::Client, due: &DueDelivery) -> StoreResult<WebhookOutcome> {
    let d = &due.delivery;
    let entry = match d.audit_id {
        Some(id) => state.store.get_audit(id).await?,
        None => None,
    };
    let body = body(due, entry.as_ref()).to_string();
    let timestamp = now_millis() / 1000;
    let request = client
        .post(&due.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(DELIVERY_HEADER, &d.delivery_id)
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(&due.secret, timestamp, body.as_bytes()))
        .body(body);
    let limit = state.config.webhook_response_excerpt;
    let (status, response, error) = match request.send().await {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let mut excerpt = Vec::new();
            while excerpt.len() < limit {
                match tokio::time::timeout(state.config.webhook_timeout, res.chunk()).await {
                    Ok(Ok(Some(chunk))) => excerpt.extend_from_slice(&chunk[..chunk.len().min(limit - excerpt.len())]),
                    _ => break,
                }
            }
            (Some(status), Some(String::from_utf8_lossy(&excerpt).into_owned()), None)
        }
        Err(e) => (None, None, Some(describe(&e))),
    };
    let attempt = Attempt { status, response, error, at: now_millis() };
    if status.is_some_and(|s| (200..300).contains(&s)) {
        state.store.delivery_succeeded(d, &attempt).await?;
        state.metrics.webhook_attempt(WebhookOutcome::Delivered);
        return Ok(WebhookOutcome::Delivered);
    }
    let config = &state.config;
    let deadline = d.created_at.saturating_add(config.webhook_max_age.as_millis() as i64);
    let wait = backoff(config, d.attempts + 1).as_millis() as i64;
    let retry_at = (attempt.at < deadline).then(|| attempt.at.saturating_add(wait).min(deadline));
    let failures = state.store.delivery_attempt_failed(d, &attempt, retry_at).await?;
    let outcome = if retry_at.is_none() {
        WebhookOutcome::GaveUp
    } else if status.is_some() {
        WebhookOutcome::Refused
    } else {
        WebhookOutcome::Unreachable
    };
    state.metrics.webhook_attempt(outcome);
    tracing::debug!(hook = d.hook_id, delivery = %d.delivery_id, ?status, "webhook delivery attempt failed");
    let reason = if retry_at.is_none() {
        Some(format!("delivery {} failed at the maximum age", d.delivery_id))
    } else if failures >= i64::from(config.webhook_disable_after) {
        Some(format!("{failures} failed attempts in a row"))
    } else {
        None
    };
    if let Some(reason) = reason
        && state.store.disable_failing_webhook(d.hook_id, &reason).await?
    {
        tracing::warn!(hook = d.hook_id, reason, "webhook disabled: its deliveries keep failing");
    }
    Ok(outcome)
}

/// Why a request got no answer, without the URL (which may carry credentials).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(500).collect()
}
