//! What every kind of alert rule shares, the notifier's ([`super::rules`]) and CloudWatch's
//! ([`super::watch`]): the error that names a bad rule, the default levels, and where a rule's messages go
//! (destination names, mentions, the route they make).

use crate::logs::level::LEVELS;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("invalid {which} pattern {pattern:?}: {source}")]
    Pattern {
        which: &'static str,
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("unknown level {0:?} (known: {known})", known = LEVELS.join(", "))]
    Level(String),
    #[error("ALERT_RULES is not a JSON array of rules: {0}")]
    Rules(String),
}

/// The default `ALERT_LEVELS`.
pub const DEFAULT_LEVELS: &str = "ERROR,CRITICAL,ALERT,EMERGENCY,FATAL";

/// The destination of every message no rule routes elsewhere: the notifier's own Slack secret.
pub const DEFAULT_DESTINATION: &str = "default";

/// Where the messages of a rule's log groups go, and whom they mention (from configuration only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination names: [`DEFAULT_DESTINATION`] or a named one of the notifier's configuration.
    pub destinations: Vec<String>,
    pub mention: Vec<String>,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            destinations: vec![DEFAULT_DESTINATION.to_string()],
            mention: Vec::new(),
        }
    }
}

/// Whether a destination name is one configuration can give: 1 to 64 of `a-z 0-9 - _`.
pub fn valid_destination(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The first name that is not a valid destination name, refused with the reason.
pub fn check_destinations<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    match names.into_iter().find(|d| !valid_destination(d)) {
        Some(d) => Err(format!(
            "destination {d:?} is not a name of 1 to 64 of a-z, 0-9, - and _"
        )),
        None => Ok(()),
    }
}

/// Whether a Slack mention is one Slack renders as a mention, and nothing else: `<!here>`, `<!channel>`,
/// `<!subteam^ID>` (a user group), `<@U…>`/`<@W…>` (a user).
pub fn valid_mention(m: &str) -> bool {
    let id = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    match m.strip_prefix('<').and_then(|m| m.strip_suffix('>')) {
        Some("!here") | Some("!channel") => true,
        Some(inner) => match (inner.strip_prefix("!subteam^"), inner.strip_prefix('@')) {
            (Some(team), _) => id(team) && team.starts_with('S'),
            (_, Some(user)) => id(user) && (user.starts_with('U') || user.starts_with('W')),
            _ => false,
        },
        None => false,
    }
}

/// The first of `mentions` that is not a mention Slack renders as one ([`valid_mention`]), refused with the
/// reason.
pub fn check_mentions(mentions: &[String]) -> Result<(), String> {
    match mentions.iter().find(|m| !valid_mention(m)) {
        Some(m) => Err(format!(
            "mention {m:?} is not <!here>, <!channel>, <!subteam^S…> or <@U…>"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_only_what_slack_renders_as_mentions() {
        for ok in [
            "<!here>",
            "<!channel>",
            "<!subteam^S012AB>",
            "<@U024BE7LH>",
            "<@W1234>",
        ] {
            assert!(valid_mention(ok), "{ok}");
        }
        for bad in [
            "@here",
            "<!everyone>",
            "<@u024>",
            "<!subteam^>",
            "<@U1|bob>",
            "<https://x|y>",
            "<!subteam^T1>",
            "<@U1> <!here>",
            "",
        ] {
            assert!(!valid_mention(bad), "{bad}");
        }
    }
}
