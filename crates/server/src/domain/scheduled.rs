//! Scheduled changes: a config change kept for a time, what it does to a config, and whether it can still be
//! applied when the config changed after it was scheduled.

use pennon_engine::{FlagConfig, Prerequisite, Rule, Serve, Target};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A change as it is kept and applied: what the request asked for, resolved against the flag (a rollout is
/// kept as its split, a toggle as the state it sets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduledEdit {
    /// Turn the flag on or off.
    Toggle {
        /// The state to set.
        enabled: bool,
    },
    /// Set the default.
    Default {
        /// What contexts no target or rule matched get.
        default: Serve,
    },
    /// Replace the individual targets.
    Targets {
        /// The new targets.
        targets: Vec<Target>,
    },
    /// Replace the rules.
    Rules {
        /// The new rules, in order.
        rules: Vec<Rule>,
    },
    /// Replace the whole config.
    Config {
        /// Whether the flag is on.
        enabled: bool,
        /// Served when disabled or when a prerequisite fails.
        off_variant: String,
        /// Individual targets.
        targets: Vec<Target>,
        /// Rules, in order.
        rules: Vec<Rule>,
        /// What everybody else gets.
        default: Serve,
        /// Flags that must serve a given variant for this one to be on.
        prerequisites: Vec<Prerequisite>,
    },
}

/// The states of a scheduled change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleState {
    /// Waiting for its time.
    Pending,
    /// Applied as a config change.
    Applied,
    /// Not applied: the config changed in a way the change cannot follow, or it no longer validates.
    Failed,
    /// Cancelled before its time.
    Cancelled,
}

impl ScheduleState {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleState::Pending => "pending",
            ScheduleState::Applied => "applied",
            ScheduleState::Failed => "failed",
            ScheduleState::Cancelled => "cancelled",
        }
    }

    /// From its stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => ScheduleState::Pending,
            "applied" => ScheduleState::Applied,
            "failed" => ScheduleState::Failed,
            "cancelled" => ScheduleState::Cancelled,
            _ => return None,
        })
    }
}

impl ScheduledEdit {
    /// The config with this change made (its version, flag and environment are left as they were).
    #[must_use]
    pub fn apply(&self, current: &FlagConfig) -> FlagConfig {
        let mut next = current.clone();
        match self.clone() {
            ScheduledEdit::Toggle { enabled } => next.enabled = enabled,
            ScheduledEdit::Default { default } => next.default = default,
            ScheduledEdit::Targets { targets } => next.targets = targets,
            ScheduledEdit::Rules { rules } => next.rules = rules,
            ScheduledEdit::Config { enabled, off_variant, targets, rules, default, prerequisites } => {
                next.enabled = enabled;
                next.off_variant = off_variant;
                next.targets = targets;
                next.rules = rules;
                next.default = default;
                next.prerequisites = prerequisites;
            }
        }
        next
    }

    /// Whether the change means the same on a config edited since it was scheduled: setting the on/off state
    /// or the default replaces one value whatever else changed; replacing targets, rules or the whole config
    /// would undo the edits made in between.
    pub fn follows_edits(&self) -> bool {
        matches!(self, ScheduledEdit::Toggle { .. } | ScheduledEdit::Default { .. })
    }

    /// The name of the config change it makes, in the history and the audit log (as the immediate edit's).
    pub fn action(&self) -> &'static str {
        match self {
            ScheduledEdit::Toggle { .. } => "config.toggle",
            ScheduledEdit::Default { .. } => "config.default",
            ScheduledEdit::Targets { .. } => "config.targets",
            ScheduledEdit::Rules { .. } => "config.rules",
            ScheduledEdit::Config { .. } => "config.replace",
        }
    }

    /// Whether a change scheduled on config version `based_on` may be applied to the config at `current`.
    /// `Err` says why not.
    pub fn check_base(&self, based_on: u64, current: u64) -> Result<(), String> {
        if based_on == current || self.follows_edits() {
            Ok(())
        } else {
            Err(format!(
                "the config changed since this change was scheduled (version {based_on}, now {current}); \
                 replacing its {} would overwrite those edits",
                match self {
                    ScheduledEdit::Targets { .. } => "targets",
                    ScheduledEdit::Rules { .. } => "rules",
                    _ => "config",
                }
            ))
        }
    }
}
