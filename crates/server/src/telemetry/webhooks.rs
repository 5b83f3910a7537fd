//! The webhook sender's metrics: attempts by outcome, and deliveries given up.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// How one webhook delivery attempt ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The receiver answered 2xx: delivered.
    Delivered,
    /// The receiver answered something else; the delivery is retried.
    Refused,
    /// No answer (connection refused, timeout); the delivery is retried.
    Unreachable,
    /// The last attempt failed at the delivery's maximum age: it is given up.
    GaveUp,
}

impl WebhookOutcome {
    /// As the label says it.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Delivered => "delivered",
            WebhookOutcome::Refused => "refused",
            WebhookOutcome::Unreachable => "unreachable",
            WebhookOutcome::GaveUp => "gave_up",
        }
    }
}

/// Labels of webhook delivery attempts.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// `delivered`, `refused`, `unreachable` or `gave_up`.
    pub outcome: &'static str,
}

/// Registers the webhook counters: attempts by outcome, and deliveries given up.
pub(super) fn register_webhook_metrics(registry: &mut Registry) -> (Family<WebhookLabels, Counter>, Counter) {
    let webhook_attempts = Family::<WebhookLabels, Counter>::default();
    registry.register(
        "webhook_attempts",
        "Webhook requests sent, by outcome (delivered, refused: a non-2xx answer, unreachable: no answer, \
         gave_up: the last attempt at the maximum age)",
        webhook_attempts.clone(),
    );
    let webhook_failed = Counter::default();
    registry.register(
        "webhook_deliveries_failed",
        "Webhook deliveries given up after retrying up to --webhook-max-age",
        webhook_failed.clone(),
    );
    (webhook_attempts, webhook_failed)
}
