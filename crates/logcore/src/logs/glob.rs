//! Log group globs: `/ecs/*`, `*-prod`, a plain name; the notifier's rules, the CloudWatch rules and the
//! log subscriber's selection of groups match log group names with them.

/// A log group glob: `*` matches any run of characters (`/ecs/*`, `*-prod`, `/aws/lambda/checkout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupGlob(String);

impl GroupGlob {
    pub fn new(p: &str) -> Self {
        GroupGlob(p.trim().to_string())
    }

    /// The glob as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, group: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or("");
        let Some(mut rest) = group.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            return rest.is_empty();
        };
        for p in middle {
            match rest.find(p) {
                Some(i) => rest = &rest[i + p.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

/// A log group pattern: a glob (`/ecs/*`, `*-prod`, or a whole name), or `re:` and a regular expression.
#[derive(Debug, Clone)]
pub enum GroupPattern {
    Glob(GroupGlob),
    Regex(regex::Regex),
}

impl GroupPattern {
    pub fn parse(s: &str) -> Result<GroupPattern, String> {
        match s.trim().strip_prefix("re:") {
            Some(re) => regex::Regex::new(re)
                .map(GroupPattern::Regex)
                .map_err(|e| format!("pattern {s:?}: {e}")),
            None if s.trim().is_empty() => Err("an empty log group pattern".into()),
            None => Ok(GroupPattern::Glob(GroupGlob::new(s))),
        }
    }

    pub fn matches(&self, group: &str) -> bool {
        match self {
            GroupPattern::Glob(g) => g.matches(group),
            GroupPattern::Regex(r) => r.is_match(group),
        }
    }

    /// The start every matching name has (a glob's text before its first `*`; nothing for a regex), to
    /// list fewer groups; `None` when there is none.
    pub fn literal_prefix(&self) -> Option<&str> {
        match self {
            GroupPattern::Glob(g) => {
                let s = g.as_str();
                Some(&s[..s.find('*').unwrap_or(s.len())]).filter(|p| !p.is_empty())
            }
            GroupPattern::Regex(_) => None,
        }
    }

    /// A whole group name (a glob without `*`): no listing needed.
    pub fn name(&self) -> Option<&str> {
        match self {
            GroupPattern::Glob(g) if !g.as_str().contains('*') => Some(g.as_str()),
            _ => None,
        }
    }
}

/// Comma-separated globs; empty entries are ignored.
pub fn globs(list: &str) -> Vec<GroupGlob> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(GroupGlob::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, g, want) in [
            ("/ecs/*", "/ecs/api", true),
            ("/ecs/*", "/ecs/", true),
            ("/ecs/*", "/ecsx", false),
            ("*-prod", "/ecs/api-prod", true),
            ("*-prod", "/ecs/api-prod2", false),
            ("/a/*/b*", "/a/x/y/bz", true),
            ("/a/*/b*", "/a/b", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*", "", true),
            ("a*a", "a", false),
        ] {
            assert_eq!(GroupGlob::new(p).matches(g), want, "{p} ~ {g}");
        }
    }

    #[test]
    fn patterns_are_globs_names_or_regexes() {
        let glob = GroupPattern::parse(" /ecs/*-prod ").unwrap();
        assert!(glob.matches("/ecs/api-prod") && !glob.matches("/ecs/api"));
        assert_eq!((glob.literal_prefix(), glob.name()), (Some("/ecs/"), None));
        let name = GroupPattern::parse("/aws/lambda/checkout").unwrap();
        assert_eq!(name.name(), Some("/aws/lambda/checkout"));
        let re = GroupPattern::parse("re:^/aws/lambda/shop-").unwrap();
        assert!(re.matches("/aws/lambda/shop-cart") && !re.matches("/aws/lambda/checkout"));
        assert_eq!((re.literal_prefix(), re.name()), (None, None));
        assert_eq!(GroupPattern::parse("*").unwrap().literal_prefix(), None);
        assert!(GroupPattern::parse("  ").is_err());
        let e = GroupPattern::parse("re:(").unwrap_err();
        assert!(e.contains("re:("), "{e}");
    }

    proptest::proptest! {
        /// Any text parses or is refused; a glob's matches all start with its literal prefix.
        #[test]
        fn any_pattern_parses_or_is_refused(p in "(re:)?[a-z/*().^-]{0,12}", g in "[a-z/-]{0,12}") {
            if let Ok(pat) = GroupPattern::parse(&p) {
                if let (Some(prefix), true) = (pat.literal_prefix(), pat.matches(&g)) {
                    proptest::prop_assert!(g.starts_with(prefix));
                }
                if let Some(name) = pat.name() {
                    proptest::prop_assert_eq!(pat.matches(&g), g == name);
                }
            }
        }
    }
}
