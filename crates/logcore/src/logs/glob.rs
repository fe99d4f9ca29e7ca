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
}
