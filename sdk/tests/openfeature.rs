//! The OpenFeature provider, through the `open-feature` crate's own client API.
#![cfg(feature = "openfeature")]

use open_feature::provider::{FeatureProvider, ProviderStatus};
use open_feature::{EvaluationContext, EvaluationErrorCode, EvaluationReason, OpenFeature, StructValue};
use pennon_sdk::openfeature::PennonProvider;
use pennon_sdk::{Client, Operator, TestData};
use serde_json::json;

async fn api_with(client: Client) -> open_feature::Client {
    let mut api = OpenFeature::default();
    api.set_provider(PennonProvider::new(client)).await;
    api.create_client()
}

fn user(key: &str) -> EvaluationContext {
    EvaluationContext::default().with_targeting_key(key)
}

#[tokio::test]
async fn every_type_resolves_with_variant_and_reason() {
    let data = TestData::new();
    data.update(data.flag("checkout").if_match("plan", ["pro"]).then_return("on").fallthrough_variation("off"));
    data.update(data.flag("banner").value_for_all("blue"));
    data.update(data.flag("limit").value_for_all(25));
    data.update(data.flag("ratio").value_for_all(0.25));
    data.update(data.flag("settings").value_for_all(json!({ "retries": 3, "mode": "fast" })));
    data.update(data.flag("dark").value_for_all(true).on(false));
    data.update(data.flag("rollout").fallthrough_split([("on", 50_000), ("off", 50_000)]));
    let flags = api_with(data.client()).await;

    let pro = user("u1").with_custom_field("plan", "pro");
    let detail = flags.get_bool_details("checkout", Some(&pro), None).await.unwrap();
    assert!(detail.value);
    assert_eq!(detail.variant.as_deref(), Some("on"));
    assert_eq!(detail.reason, Some(EvaluationReason::TargetingMatch));
    let detail = flags.get_bool_details("checkout", Some(&user("u2")), None).await.unwrap();
    assert_eq!((detail.value, detail.reason), (false, Some(EvaluationReason::Default)));

    assert_eq!(flags.get_string_value("banner", Some(&pro), None).await.unwrap(), "blue");
    assert_eq!(flags.get_int_value("limit", Some(&pro), None).await.unwrap(), 25);
    assert!((flags.get_float_value("ratio", Some(&pro), None).await.unwrap() - 0.25).abs() < 1e-12);
    assert!((flags.get_float_value("limit", Some(&pro), None).await.unwrap() - 25.0).abs() < 1e-12);
    let settings: StructValue = flags.get_struct_value("settings", Some(&pro), None).await.unwrap();
    assert_eq!(settings.fields["retries"], open_feature::Value::Int(3));
    assert_eq!(settings.fields["mode"], open_feature::Value::String("fast".into()));

    let off = flags.get_bool_details("dark", Some(&pro), None).await.unwrap();
    assert_eq!((off.value, off.reason), (false, Some(EvaluationReason::Disabled)));
    let split = flags.get_bool_details("rollout", Some(&pro), None).await.unwrap();
    assert_eq!(split.reason, Some(EvaluationReason::Split));
    assert_eq!(split.flag_metadata.values.get("version"), Some(&open_feature::FlagMetadataValue::Int(1)));
}

fn code<T>(result: Result<T, open_feature::EvaluationError>) -> Option<EvaluationErrorCode> {
    result.err().map(|e| e.code)
}

#[tokio::test]
async fn errors_map_to_openfeature_codes() {
    let data = TestData::new();
    data.update(data.flag("banner").value_for_all("blue"));
    data.update(data.flag("ratio").value_for_all(0.25));
    data.update(data.flag("list").value_for_all(json!([1, 2])));
    data.update(data.flag("by-org").fallthrough_split([("on", 50_000), ("off", 50_000)]));
    let mut by_org = data.flag("by-org").into_flag();
    if let pennon_engine::Serve::Split(split) = &mut by_org.config.default {
        split.bucket_by = "org".into();
    }
    data.set_flag(by_org);
    data.update(data.flag("needs-base").prerequisite("base", "on"));
    let flags = api_with(data.client()).await;
    let ctx = user("u1");

    assert_eq!(code(flags.get_bool_value("nope", Some(&ctx), None).await), Some(EvaluationErrorCode::FlagNotFound));
    assert_eq!(code(flags.get_bool_value("banner", Some(&ctx), None).await), Some(EvaluationErrorCode::TypeMismatch));
    assert_eq!(code(flags.get_int_value("ratio", Some(&ctx), None).await), Some(EvaluationErrorCode::TypeMismatch));
    let list = flags.get_struct_value::<StructValue>("list", Some(&ctx), None).await;
    assert_eq!(code(list), Some(EvaluationErrorCode::TypeMismatch));
    assert_eq!(code(flags.get_bool_value("by-org", Some(&ctx), None).await), Some(EvaluationErrorCode::InvalidContext));
    let anonymous = EvaluationContext::default();
    let no_key = flags.get_bool_value("needs-base", Some(&anonymous), None).await.unwrap();
    assert!(!no_key);
    let prerequisite = flags.get_bool_details("needs-base", Some(&ctx), None).await.unwrap();
    assert_eq!(prerequisite.reason, Some(EvaluationReason::Other("PREREQUISITE_FAILED".into())));
}

#[tokio::test]
async fn a_missing_targeting_key_for_a_key_split_is_reported_as_such() {
    let data = TestData::new();
    data.update(data.flag("rollout").fallthrough_split([("on", 50_000), ("off", 50_000)]));
    let flags = api_with(data.client()).await;
    let err = flags.get_bool_value("rollout", Some(&EvaluationContext::default()), None).await.unwrap_err();
    assert_eq!(err.code, EvaluationErrorCode::TargetingKeyMissing);
}

#[tokio::test]
async fn context_fields_become_attributes() {
    let data = TestData::new();
    data.update(
        data.flag("late")
            .if_match("tier", [2])
            .condition("signed_up", Operator::After, ["2024-01-01T00:00:00Z"], false)
            .and_match("beta", [true])
            .then_return("on")
            .fallthrough_variation("off"),
    );
    let flags = api_with(data.client()).await;
    let signed_up = time::OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
    let ctx = user("u1")
        .with_custom_field("tier", 2)
        .with_custom_field("beta", true)
        .with_custom_field("signed_up", signed_up);
    assert!(flags.get_bool_value("late", Some(&ctx), None).await.unwrap());
    let early = time::OffsetDateTime::from_unix_timestamp(1_600_000_000).unwrap();
    let ctx =
        user("u1").with_custom_field("tier", 2).with_custom_field("beta", true).with_custom_field("signed_up", early);
    assert!(!flags.get_bool_value("late", Some(&ctx), None).await.unwrap());
}

#[tokio::test]
async fn status_follows_the_client_and_an_empty_client_is_not_ready() {
    let data = TestData::new();
    assert_eq!(PennonProvider::new(data.client()).status(), ProviderStatus::Ready);
    let empty = Client::builder("http://unused.invalid", "k").offline(true).build().await.unwrap();
    let flags = api_with(empty).await;
    let err = flags.get_bool_value("anything", Some(&user("u")), None).await.unwrap_err();
    assert_eq!(err.code, EvaluationErrorCode::ProviderNotReady);
}
