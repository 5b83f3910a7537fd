//! An [OpenFeature](https://openfeature.dev) provider over a [`Client`] (cargo feature `openfeature`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use open_feature::{EvaluationContext, OpenFeature};
//! use pennon_sdk::openfeature::PennonProvider;
//!
//! let client = pennon_sdk::Client::builder("http://pennon.internal:8080", "pnn_srv_...").build().await?;
//! let mut api = OpenFeature::singleton_mut().await;
//! api.set_provider(PennonProvider::new(client)).await;
//! let flags = api.create_client();
//! let ctx = EvaluationContext::default().with_targeting_key("user-42").with_custom_field("plan", "pro");
//! let on = flags.get_bool_value("new-checkout", Some(&ctx), None).await.unwrap_or(false);
//! # Ok(()) }
//! ```
//!
//! The targeting key is the context key; custom fields become attributes (booleans, numbers and strings as
//! they are, date-times as Unix milliseconds, which the `before`/`after` operators take; opaque structures
//! are skipped). Evaluations count as exposures, exactly like the client's own calls.
//!
//! | Pennon reason | OpenFeature reason |
//! |---|---|
//! | `OFF` | `DISABLED` |
//! | `TARGET_MATCH`, `RULE_MATCH` | `TARGETING_MATCH` (`SPLIT` when a rule serves a split) |
//! | `FALLTHROUGH` | `DEFAULT` (`SPLIT` when the default is a split) |
//! | `PREREQUISITE_FAILED` | `PREREQUISITE_FAILED` (`Other`) |
//!
//! | Pennon error | OpenFeature error code |
//! |---|---|
//! | `FLAG_NOT_FOUND` | `FLAG_NOT_FOUND` (`PROVIDER_NOT_READY` before any flags arrived) |
//! | `TYPE_MISMATCH` | `TYPE_MISMATCH` (also an integer asked of a fractional number, a structure of a non-object) |
//! | `MALFORMED_CONFIG` | `PARSE_ERROR` |
//! | `MISSING_BUCKET_BY` | `TARGETING_KEY_MISSING` without a targeting key, else `INVALID_CONTEXT` |
//!
//! On an error OpenFeature returns the application's default. (The client's own calls serve the off
//! variant for `MISSING_BUCKET_BY`; through OpenFeature it is the application's default.)
//!
//! The provider's status follows the client's: `NOT_READY` while initializing, `READY` when current or
//! offline, `STALE` while the server is away, `ERROR` after the key was refused or the client closed.
//! `initialize` waits for the flags, up to [`PennonProvider::with_init_timeout`] (default 5 s).

use std::time::Duration;

use open_feature::provider::{FeatureProvider, ProviderMetadata, ProviderStatus, ResolutionDetails};
use open_feature::{
    EvaluationContext, EvaluationContextFieldValue, EvaluationError, EvaluationErrorCode, EvaluationReason,
    EvaluationResult, FlagMetadata, StructValue,
};
use pennon_engine::{Context, ErrorCode, FlagKind};
use serde_json::Value;

use crate::evaluate::Want;
use crate::{Client, Reason, Source, Status};

/// The OpenFeature provider. Cheap to create; clones of the same [`Client`] share everything.
#[derive(Debug, Clone)]
pub struct PennonProvider {
    client: Client,
    metadata: ProviderMetadata,
    init_timeout: Duration,
}

impl PennonProvider {
    /// A provider over `client`.
    pub fn new(client: Client) -> Self {
        PennonProvider { client, metadata: ProviderMetadata::new("pennon"), init_timeout: Duration::from_secs(5) }
    }

    /// How long `initialize` (called by `set_provider`) waits for the flags. The client keeps trying after.
    #[must_use]
    pub fn with_init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// The client underneath (for `track`, listeners, status).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn resolve<T>(
        &self,
        key: &str,
        ctx: &EvaluationContext,
        want: Want,
        extract: impl FnOnce(&Value) -> Option<T>,
    ) -> EvaluationResult<ResolutionDetails<T>> {
        let context = to_context(ctx);
        let detail = self.client.detail_of(key, &context, None, want, |v| extract(v).map(Some));
        if let Some(code) = detail.error() {
            return Err(self.error(code, key, &context));
        }
        let Some(value) = detail.value else {
            return Err(EvaluationError::builder().code(EvaluationErrorCode::General("no value".into())).build());
        };
        let metadata = FlagMetadata::default().with_value("version", i64::try_from(detail.version).unwrap_or(i64::MAX));
        Ok(ResolutionDetails {
            value,
            variant: detail.variant,
            reason: Some(to_reason(&detail.reason)),
            flag_metadata: Some(metadata),
        })
    }

    fn error(&self, code: ErrorCode, key: &str, context: &Context) -> EvaluationError {
        let (code, message) = match code {
            ErrorCode::FlagNotFound if self.client.source() == Source::Empty => {
                (EvaluationErrorCode::ProviderNotReady, "no flags have arrived yet".to_owned())
            }
            ErrorCode::FlagNotFound => (EvaluationErrorCode::FlagNotFound, format!("no flag {key:?}")),
            ErrorCode::TypeMismatch => {
                (EvaluationErrorCode::TypeMismatch, format!("flag {key:?} does not serve the type asked for"))
            }
            ErrorCode::MalformedConfig => {
                (EvaluationErrorCode::ParseError, format!("flag {key:?} has a configuration that cannot be evaluated"))
            }
            ErrorCode::MissingBucketBy if context.key().is_none() => {
                (EvaluationErrorCode::TargetingKeyMissing, format!("flag {key:?} splits by the targeting key"))
            }
            ErrorCode::MissingBucketBy => {
                (EvaluationErrorCode::InvalidContext, format!("flag {key:?} splits by an attribute the context lacks"))
            }
        };
        EvaluationError { code, message: Some(message) }
    }
}

/// The engine context for an OpenFeature evaluation context.
pub fn to_context(ctx: &EvaluationContext) -> Context {
    let mut context = Context { key: ctx.targeting_key.clone(), ..Context::default() };
    for (name, value) in &ctx.custom_fields {
        let value = match value {
            EvaluationContextFieldValue::Bool(b) => Value::Bool(*b),
            EvaluationContextFieldValue::Int(i) => Value::from(*i),
            EvaluationContextFieldValue::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => Value::Number(n),
                None => continue,
            },
            EvaluationContextFieldValue::String(s) => Value::String(s.clone()),
            EvaluationContextFieldValue::DateTime(t) => {
                Value::from(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
            }
            EvaluationContextFieldValue::Struct(_) => continue,
        };
        context.attributes.insert(name.clone(), value);
    }
    context
}

fn to_reason(reason: &Reason) -> EvaluationReason {
    match reason {
        Reason::Off => EvaluationReason::Disabled,
        Reason::RuleMatch { bucket: Some(_), .. } | Reason::Fallthrough { bucket: Some(_) } => EvaluationReason::Split,
        Reason::TargetMatch | Reason::RuleMatch { .. } => EvaluationReason::TargetingMatch,
        Reason::Fallthrough { bucket: None } => EvaluationReason::Default,
        Reason::PrerequisiteFailed { .. } => EvaluationReason::Other("PREREQUISITE_FAILED".into()),
        Reason::Error { .. } => EvaluationReason::Error,
    }
}

#[open_feature::async_trait]
impl FeatureProvider for PennonProvider {
    async fn initialize(&mut self, _context: &EvaluationContext) {
        if let Err(e) = self.client.wait_until_ready(self.init_timeout).await {
            tracing::warn!(error = %e, "the OpenFeature provider starts without current flags");
        }
    }

    fn status(&self) -> ProviderStatus {
        match self.client.status() {
            Status::Ready | Status::Offline => ProviderStatus::Ready,
            Status::Interrupted { .. } => ProviderStatus::STALE,
            Status::Failed { .. } | Status::Closed => ProviderStatus::Error,
            _ => ProviderStatus::NotReady,
        }
    }

    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        self.resolve(key, ctx, Want::Kind(FlagKind::Boolean), Value::as_bool)
    }

    async fn resolve_int_value(&self, key: &str, ctx: &EvaluationContext) -> EvaluationResult<ResolutionDetails<i64>> {
        self.resolve(key, ctx, Want::Kind(FlagKind::Number), Value::as_i64)
    }

    async fn resolve_float_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        self.resolve(key, ctx, Want::Kind(FlagKind::Number), Value::as_f64)
    }

    async fn resolve_string_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        self.resolve(key, ctx, Want::Kind(FlagKind::String), |v| v.as_str().map(str::to_owned))
    }

    async fn resolve_struct_value(
        &self,
        key: &str,
        ctx: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        self.resolve(key, ctx, Want::Kind(FlagKind::Json), |v| match open_feature::Value::try_from(v) {
            Ok(open_feature::Value::Struct(s)) => Some(s),
            _ => None,
        })
    }
}
