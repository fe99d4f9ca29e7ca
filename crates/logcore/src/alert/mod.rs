//! Alerts: which log events deserve a Slack message ([`rules`]; CloudWatch's threshold and absence rules in
//! [`watch`]), what every rule shares ([`common`]), how repeats are recognised ([`fingerprint`]) and
//! suppressed ([`suppress`]), and how the events of one invocation are grouped per log group ([`group`]).
//! The Slack rendering (Block Kit, escaping, deep links) is in [`slack`], alarm state changes in [`alarm`].
//! Pure: no clock, no network; times come in as arguments.

pub mod alarm;
pub mod common;
pub mod fingerprint;
pub mod group;
pub mod rules;
pub mod slack;
pub mod suppress;
pub mod watch;

pub use common::{
    check_destinations, check_mentions, valid_destination, valid_mention, Route, RuleError,
    DEFAULT_DESTINATION, DEFAULT_LEVELS,
};
pub use fingerprint::{fingerprint, routed};
pub use group::{Group, Grouper, MAX_DISTINCT};
pub use rules::{Decision, Judgement, Rule, Rules, DEFAULT_PATTERN};
pub use suppress::Suppressor;

/// One log event that may be alerted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEvent {
    pub log_group: String,
    pub log_stream: String,
    /// AWS account of the log group (empty when unknown).
    pub account: String,
    pub region: Option<String>,
    /// Event time, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// CloudWatch Logs event id (empty when unknown).
    pub id: String,
    pub message: String,
}

#[cfg(test)]
mod route_tests;
#[cfg(test)]
mod tests;
