use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::*;
use crate::{Context, ErrorCode, Reason};

#[test]
fn a_new_flag_is_a_boolean_that_is_on() {
    let data = TestData::new();
    data.update(data.flag("f"));
    let client = data.client();
    let detail = client.bool_detail("f", &Context::new("u"), false);
    assert!(detail.value);
    assert_eq!(detail.variant.as_deref(), Some("on"));
    assert_eq!(detail.reason, Reason::Fallthrough { bucket: None });
    assert_eq!(client.status(), Status::Offline);
    assert_eq!(client.source(), Source::TestData);
}

#[test]
fn updates_reach_existing_clients_and_fire_listeners() {
    let data = TestData::new();
    let client = data.client();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    client.on_change(move |change| sink.lock().unwrap().push((change.key.clone(), change.new_version)));
    let mut changes = client.subscribe();

    data.update(data.flag("f").value_for_all(false));
    assert!(!client.bool_value("f", &Context::new("u"), true));
    data.update(data.flag("f").on(false).off_variation("on"));
    assert!(client.bool_value("f", &Context::new("u"), false));
    data.delete_flag("f");
    assert_eq!(client.bool_detail("f", &Context::new("u"), false).error(), Some(ErrorCode::FlagNotFound));

    assert_eq!(*heard.lock().unwrap(), [("f".to_owned(), Some(1)), ("f".to_owned(), Some(2)), ("f".to_owned(), None)]);
    assert_eq!(changes.try_recv().unwrap().key, "f");
    assert_eq!(client.revision(), 3);
}

#[test]
fn an_update_that_changes_nothing_fires_nothing_but_a_prerequisite_change_reaches_dependents() {
    let data = TestData::new();
    data.update(data.flag("base").value_for_all(true));
    data.update(data.flag("dependent").prerequisite("base", "on"));
    let client = data.client();
    let fired = Arc::new(Mutex::new(Vec::new()));
    let sink = fired.clone();
    client.on_change(move |c| sink.lock().unwrap().push(c.key.clone()));
    data.update(data.flag("base").value_for_all(false));
    assert_eq!(*fired.lock().unwrap(), ["base", "dependent"]);
    let detail = client.bool_detail("dependent", &Context::new("u"), true);
    assert_eq!(detail.reason, Reason::PrerequisiteFailed { flag: "base".into() });
}

#[test]
fn targets_rules_and_splits() {
    let data = TestData::new();
    data.update(
        data.flag("color")
            .variations([("red", "#f00"), ("green", "#0f0"), ("blue", "#00f")])
            .variation_for_key("vip", "green")
            .if_match("country", ["DE", "AT"])
            .and_not_match("plan", ["free"])
            .then_return("blue")
            .fallthrough_split([("red", 50_000), ("green", 50_000)]),
    );
    let client = data.client();
    assert_eq!(client.string_value("color", &Context::new("vip"), "?"), "#0f0");
    let de = Context::new("u1").with("country", "DE");
    assert_eq!(client.string_detail("color", &de, "?").reason.kind(), "RULE_MATCH");
    assert_eq!(client.string_value("color", &de, "?"), "#00f");
    let free = de.clone().with("plan", "free");
    let detail = client.string_detail("color", &free, "?");
    assert!(detail.reason.bucket().is_some());
    assert!(["#f00", "#0f0"].contains(&detail.value.as_str()));
    assert_eq!(client.bool_detail("color", &de, true).error(), Some(ErrorCode::TypeMismatch));
    assert_eq!(client.json_value("color", &de, json!(null)), json!("#00f"));
}

#[test]
fn value_for_all_sets_the_kind() {
    let data = TestData::new();
    data.update(data.flag("limit").value_for_all(25));
    data.update(data.flag("config").value_for_all(json!({ "retries": 3 })));
    let client = data.client();
    assert!((client.number_value("limit", &Context::anonymous(), 0.0) - 25.0).abs() < f64::EPSILON);
    assert_eq!(client.json_value("config", &Context::anonymous(), json!(null)), json!({ "retries": 3 }));
    assert_eq!(client.number_detail("config", &Context::anonymous(), 1.0).error(), Some(ErrorCode::TypeMismatch));
}

#[test]
fn listeners_may_update_the_same_test_data() {
    let data = TestData::new();
    let client = data.client();
    let calls = Arc::new(AtomicUsize::new(0));
    let (inner, count) = (data.clone(), calls.clone());
    client.on_change(move |change| {
        count.fetch_add(1, Ordering::SeqCst);
        if change.key == "first" {
            inner.update(inner.flag("second"));
        }
    });
    data.update(data.flag("first"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(client.bool_value("second", &Context::anonymous(), false));
}

#[test]
fn dropped_clients_are_forgotten() {
    let data = TestData::new();
    drop(data.client());
    data.update(data.flag("f"));
    assert!(lock(&data.inner.clients).is_empty());
}

#[test]
fn every_thread_sees_an_update_as_soon_as_it_is_made() {
    use std::sync::Barrier;
    let data = TestData::new();
    data.update(data.flag("f").value_for_all(false));
    let client = data.client();
    let (before, after) = (Arc::new(Barrier::new(5)), Arc::new(Barrier::new(5)));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (client, before, after) = (client.clone(), before.clone(), after.clone());
            std::thread::spawn(move || {
                let ctx = Context::new(format!("user-{i}"));
                // Each thread now keeps the state it evaluated with.
                assert!(!client.bool_value("f", &ctx, true));
                before.wait();
                after.wait();
                client.bool_value("f", &ctx, false)
            })
        })
        .collect();
    before.wait();
    data.update(data.flag("f").value_for_all(true));
    after.wait();
    for t in threads {
        assert!(t.join().unwrap(), "a thread evaluated with the state it kept from before the update");
    }
}
