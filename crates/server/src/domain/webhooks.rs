//! What an outgoing webhook receives: which audited changes a hook's filters select, the one-line summary
//! of a change, and the signature over a delivery.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

/// The header carrying a delivery's id, the same on every attempt (for idempotency).
pub const DELIVERY_HEADER: &str = "Pennon-Delivery";
/// The header carrying the Unix time (seconds) of the attempt, which the signature covers.
pub const TIMESTAMP_HEADER: &str = "Pennon-Timestamp";
/// The header carrying `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "Pennon-Signature";

/// What a hook posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HookFormat {
    /// The audit row, a summary and the delivery's id, as JSON.
    #[default]
    Pennon,
    /// `{"text": summary}`, what Slack's incoming webhooks take.
    Slack,
}

impl HookFormat {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            HookFormat::Pennon => "pennon",
            HookFormat::Slack => "slack",
        }
    }

    /// From its stored form (anything unknown is the default).
    pub fn parse(s: &str) -> Self {
        if s == "slack" { HookFormat::Slack } else { HookFormat::Pennon }
    }
}

/// Which changes a hook receives. Each list that is not empty must hold: the change's environment is one
/// of `environments`, its flag one of `flags`, its flag carries one of `tags`, and its action matches one of
/// `actions` (exactly, or `prefix.*`). A change without an environment or flag does not pass a filter on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookFilter {
    /// Environment keys.
    pub environments: Vec<String>,
    /// Flag keys.
    pub flags: Vec<String>,
    /// Flag tags.
    pub tags: Vec<String>,
    /// Actions, e.g. `config.toggle` or `config.*`.
    pub actions: Vec<String>,
}

impl HookFilter {
    /// Whether matching needs the tags of the change's flag.
    pub fn needs_tags(&self) -> bool {
        !self.tags.is_empty()
    }

    /// Whether a change passes: its action, flag, environment, and the tags of its flag (read only when
    /// [`HookFilter::needs_tags`]).
    pub fn matches(&self, action: &str, flag: Option<&str>, environment: Option<&str>, tags: &[String]) -> bool {
        let listed = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l == v))
        };
        listed(&self.environments, environment)
            && listed(&self.flags, flag)
            && (self.tags.is_empty() || (flag.is_some() && tags.iter().any(|t| self.tags.contains(t))))
            && (self.actions.is_empty() || self.actions.iter().any(|pattern| action_matches(pattern, action)))
    }
}

/// Whether an action pattern (`config.toggle`, or `config.*` for every action on configs) names `action`.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

/// Whether an action pattern is well formed: lowercase words separated by dots, optionally ending in `.*`.
pub fn is_action_pattern(pattern: &str) -> bool {
    let body = pattern.strip_suffix(".*").unwrap_or(pattern);
    !body.is_empty()
        && pattern.len() <= 100
        && body.split('.').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
}

/// Who did it, as a person reads it: a user's email, `token <name>`, `Pennon (<job>)`.
pub fn display_actor(actor: &str) -> String {
    if let Some(email) = actor.strip_prefix("user:") {
        email.to_owned()
    } else if let Some(name) = actor.strip_prefix("token:") {
        format!("token {name}")
    } else if let Some(what) = actor.strip_prefix("system:") {
        format!("Pennon ({what})")
    } else {
        actor.to_owned()
    }
}

/// The parts of an audited change the summary reads.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// `user:...`, `token:...`, `system:...`.
    pub actor: &'a str,
    /// E.g. `config.toggle`.
    pub action: &'a str,
    /// The kind of object.
    pub resource: &'a str,
    /// The object's key.
    pub resource_key: &'a str,
    /// The flag concerned.
    pub flag: Option<&'a str>,
    /// The environment concerned.
    pub environment: Option<&'a str>,
    /// The object after the change.
    pub after: Option<&'a Value>,
}

/// One line a person reads: "alice@example.com turned checkout-v2 off in production".
pub fn summary(change: &Change<'_>) -> String {
    let who = display_actor(change.actor);
    let place = change.environment.map(|e| format!(" in {e}")).unwrap_or_default();
    let object = change.flag.unwrap_or(change.resource_key);
    let (kind, verb) = change.action.split_once('.').unwrap_or((change.action, ""));
    match (kind, verb) {
        ("config", "toggle") => {
            let on = change.after.and_then(|a| a.get("enabled")).and_then(Value::as_bool);
            let state = match on {
                Some(true) => "on",
                Some(false) => "off",
                None => "on or off",
            };
            format!("{who} turned {object} {state}{place}")
        }
        ("config", verb) => format!("{who} changed {object}{place} ({verb})"),
        (_, "create" | "update" | "delete" | "archive" | "unarchive" | "revoke" | "rotate" | "disable") => {
            let done = match verb {
                "create" => "created",
                "update" => "updated",
                "delete" => "deleted",
                "archive" => "archived",
                "unarchive" => "unarchived",
                "revoke" => "revoked",
                "rotate" => "rotated",
                _ => "disabled",
            };
            format!("{who} {done} {} {}{place}", change.resource, change.resource_key)
        }
        _ => format!("{who}: {} on {} {}{place}", change.action, change.resource, change.resource_key),
    }
}

/// The `Pennon-Signature` value of a body sent at `timestamp`: `sha256=` and the hex HMAC-SHA256, keyed with
/// the hook's secret, of `"<timestamp>.<body>"`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_select() {
        let all = HookFilter::default();
        assert!(all.matches("session.create", None, None, &[]));
        let f = HookFilter {
            environments: vec!["production".into()],
            actions: vec!["config.*".into()],
            ..HookFilter::default()
        };
        assert!(f.matches("config.toggle", Some("a"), Some("production"), &[]));
        assert!(!f.matches("config.toggle", Some("a"), Some("staging"), &[]));
        assert!(!f.matches("flag.create", Some("a"), Some("production"), &[]));
        assert!(!f.matches("config.toggle", Some("a"), None, &[]));
        let tags = HookFilter { tags: vec!["web".into()], ..HookFilter::default() };
        assert!(tags.matches("flag.update", Some("a"), None, &["web".into()]));
        assert!(!tags.matches("flag.update", Some("a"), None, &["api".into()]));
        assert!(!tags.matches("segment.update", None, None, &[]));
    }

    #[test]
    fn action_patterns() {
        assert!(is_action_pattern("config.toggle"));
        assert!(is_action_pattern("config.*"));
        assert!(!is_action_pattern("*"));
        assert!(!is_action_pattern("Config.toggle"));
        assert!(!is_action_pattern("config..toggle"));
    }

    #[test]
    fn summaries_read_as_sentences() {
        let after = json!({ "enabled": false });
        let change = Change {
            actor: "user:alice@x",
            action: "config.toggle",
            resource: "config",
            resource_key: "checkout-v2/production",
            flag: Some("checkout-v2"),
            environment: Some("production"),
            after: Some(&after),
        };
        assert_eq!(summary(&change), "alice@x turned checkout-v2 off in production");
        let created = Change {
            action: "flag.create",
            resource: "flag",
            resource_key: "checkout-v2",
            environment: None,
            ..change
        };
        assert_eq!(summary(&created), "alice@x created flag checkout-v2");
    }

    #[test]
    fn signature_matches_a_known_vector() {
        // HMAC-SHA256(key = "secret", "1700000000.{}") computed independently.
        let sig = signature("secret", 1_700_000_000, b"{}");
        assert_eq!(sig, "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163");
        assert_ne!(sig, signature("secret", 1_700_000_001, b"{}"));
    }
}
