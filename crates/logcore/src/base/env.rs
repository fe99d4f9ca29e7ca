//! Configuration from environment variables, with errors that name the variable.

#[derive(Debug, thiserror::Error)]
#[error("configuration variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// Reads configuration variables, trimming them and treating empty as unset, with errors that name the
/// variable.
pub struct Env<'a> {
    var: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub fn new(var: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { var }
    }

    /// The trimmed value, `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.var)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The value as set (not trimmed), `None` when unset or empty.
    pub fn get_raw(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.is_empty())
    }

    pub fn err(&self, name: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// A whole number from `min` to `max`.
    pub fn num(
        &self,
        name: &'static str,
        min: usize,
        max: usize,
    ) -> Result<Option<usize>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                _ => Err(self.err(
                    name,
                    &v,
                    format!("expected a whole number from {min} to {max}"),
                )),
            },
        }
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), `default` when unset.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err(self.err(name, &v, "expected true or false")),
            },
        }
    }
}

/// A variable reader over fixed pairs (tests and tools): `Config::from_env(logcore::base::env::pairs(&[…]))`.
pub fn pairs<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |k| {
        vars.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    }
}
