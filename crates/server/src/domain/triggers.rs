//! Trigger URLs: what a trigger does, and what one notification POSTed to it asks for.
//!
//! A trigger turns a flag off (or on) in one environment. A POST with no body, or with any JSON, performs the
//! trigger's `action`; an Alertmanager webhook notification (`{"version": "4", "status": "firing" |
//! "resolved", "alerts": [...]}`) performs `action` when firing and `on_resolved` when resolved.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a trigger does to its flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerAction {
    /// Turn the flag off: everyone gets the off variant.
    Off,
    /// Turn the flag on.
    On,
}

impl TriggerAction {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerAction::Off => "off",
            TriggerAction::On => "on",
        }
    }

    /// From the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(TriggerAction::Off),
            "on" => Some(TriggerAction::On),
            _ => None,
        }
    }

    /// Whether the flag is enabled after the action.
    pub fn enabled(self) -> bool {
        self == TriggerAction::On
    }
}

/// What an Alertmanager `resolved` notification does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnResolved {
    /// Nothing: the flag stays as the firing alert left it, until a person changes it.
    #[default]
    None,
    /// Turn the flag off.
    Off,
    /// Turn the flag on.
    On,
}

impl OnResolved {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            OnResolved::None => "none",
            OnResolved::Off => "off",
            OnResolved::On => "on",
        }
    }

    /// From the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "none" => Some(OnResolved::None),
            "off" => Some(OnResolved::Off),
            "on" => Some(OnResolved::On),
            _ => None,
        }
    }

    /// The action it performs, if any.
    pub fn action(self) -> Option<TriggerAction> {
        match self {
            OnResolved::None => None,
            OnResolved::Off => Some(TriggerAction::Off),
            OnResolved::On => Some(TriggerAction::On),
        }
    }
}

/// What a notification is, as far as the trigger cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    /// No body, or JSON that is not an Alertmanager notification.
    Plain,
    /// An Alertmanager notification of a firing group.
    Firing,
    /// An Alertmanager notification of a resolved group.
    Resolved,
}

impl Notification {
    /// As recorded in the audit row and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            Notification::Plain => "plain",
            Notification::Firing => "firing",
            Notification::Resolved => "resolved",
        }
    }

    /// The action this notification asks of a trigger, if any.
    pub fn action(self, action: TriggerAction, on_resolved: OnResolved) -> Option<TriggerAction> {
        match self {
            Notification::Plain | Notification::Firing => Some(action),
            Notification::Resolved => on_resolved.action(),
        }
    }
}

/// A body that cannot be read, with the field at fault (`None` for the body as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNotification {
    /// The field at fault.
    pub field: Option<&'static str>,
    /// What is wrong.
    pub detail: String,
}

/// Reads a notification: an empty body (or only whitespace) or any JSON is [`Notification::Plain`]; a JSON
/// object with `alerts` or `version` is read as an Alertmanager notification, whose `version` must be `"4"`
/// and whose `status` must be `firing` or `resolved`.
pub fn read_notification(body: &[u8]) -> Result<Notification, BadNotification> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Notification::Plain);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BadNotification { field: None, detail: format!("the body must be empty or JSON: {e}") })?;
    let Some(object) = value.as_object() else { return Ok(Notification::Plain) };
    if !object.contains_key("alerts") && !object.contains_key("version") {
        return Ok(Notification::Plain);
    }
    if object.get("version").and_then(Value::as_str) != Some("4") {
        let detail = "version must be \"4\" (Alertmanager's webhook format)".to_owned();
        return Err(BadNotification { field: Some("version"), detail });
    }
    if object.get("alerts").is_some_and(|alerts| !alerts.is_array()) {
        return Err(BadNotification { field: Some("alerts"), detail: "alerts must be an array".to_owned() });
    }
    match object.get("status").and_then(Value::as_str) {
        Some("firing") => Ok(Notification::Firing),
        Some("resolved") => Ok(Notification::Resolved),
        _ => Err(BadNotification { field: Some("status"), detail: "status must be firing or resolved".to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bodies_and_alertmanager_notifications() {
        assert_eq!(read_notification(b""), Ok(Notification::Plain));
        assert_eq!(read_notification(b" \n"), Ok(Notification::Plain));
        assert_eq!(read_notification(b"{}"), Ok(Notification::Plain));
        assert_eq!(read_notification(b"[1, 2]"), Ok(Notification::Plain));
        assert_eq!(read_notification(br#"{"text": "deploy broke"}"#), Ok(Notification::Plain));
        let firing = br#"{"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}"#;
        assert_eq!(read_notification(firing), Ok(Notification::Firing));
        let resolved = br#"{"version": "4", "status": "resolved", "alerts": []}"#;
        assert_eq!(read_notification(resolved), Ok(Notification::Resolved));
    }

    #[test]
    fn bad_bodies_name_the_field() {
        assert_eq!(read_notification(b"not json").unwrap_err().field, None);
        let status = br#"{"version": "4", "status": "sleeping", "alerts": []}"#;
        assert_eq!(read_notification(status).unwrap_err().field, Some("status"));
        let version = br#"{"version": "3", "status": "firing", "alerts": []}"#;
        assert_eq!(read_notification(version).unwrap_err().field, Some("version"));
        let alerts = br#"{"version": "4", "status": "firing", "alerts": 7}"#;
        assert_eq!(read_notification(alerts).unwrap_err().field, Some("alerts"));
    }

    #[test]
    fn resolved_does_what_on_resolved_says() {
        let (off, on) = (TriggerAction::Off, TriggerAction::On);
        assert_eq!(Notification::Firing.action(off, OnResolved::On), Some(off));
        assert_eq!(Notification::Plain.action(on, OnResolved::None), Some(on));
        assert_eq!(Notification::Resolved.action(off, OnResolved::None), None);
        assert_eq!(Notification::Resolved.action(off, OnResolved::On), Some(on));
        for text in ["off", "on"] {
            assert_eq!(TriggerAction::parse(text).unwrap().as_str(), text);
        }
        for text in ["none", "off", "on"] {
            assert_eq!(OnResolved::parse(text).unwrap().as_str(), text);
        }
    }
}
