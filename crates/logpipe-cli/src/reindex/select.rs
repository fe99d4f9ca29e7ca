//! Which archive objects a reindex selects, from the key layout the stack writes, listing only the prefixes
//! that can hold them (never the whole bucket):
//!
//! - **Time layout** (Firehose's `logs/!{timestamp:yyyy/MM/dd/HH}/`, the audit stream's `audit/…`): one
//!   prefix per UTC hour of the range, or per day when the range covers the whole day. The time is when
//!   Firehose wrote the object (the arrival of its oldest record), so an hour's objects hold that hour's
//!   events and a few minutes of the one before. Every group is in every object: a group cannot be
//!   selected by key.
//! - **Partitioned layout** (dynamic partitioning: `logs/<log group without its leading />/<YYYY-MM-DD>/`,
//!   both from the record's first event): one prefix per group and day for a plain group name; for a glob,
//!   one listing under its literal start, each key then read back into group and date and kept when both
//!   match. Days are whole: the objects of a day hold all of its hours.

use canary::scan::KeyPrefix;
use logcore::base::time::DateTimeParts;
use logcore::logs::glob::GroupGlob;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How the stream lays its objects out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLayout {
    /// Objects under a prefix with time fields (`logs/%Y/%m/%d/%H/`).
    Time(KeyPrefix),
    /// Objects under `<root><group>/<date>/` (`logs/`).
    Partitioned { root: String },
}

/// One listing to make: the prefix, and what a listed key must satisfy to be selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub prefix: String,
    /// `None`: every key under the prefix is selected.
    pub filter: Option<KeyFilter>,
}

/// Keys of the partitioned layout kept by group and date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFilter {
    root: String,
    globs: Vec<String>,
    /// Dates (`YYYY-MM-DD`) from and to, inclusive.
    first_date: String,
    last_date: String,
}

impl KeyFilter {
    /// Whether `key` is an object of a selected group and date.
    pub fn keeps(&self, key: &str) -> bool {
        let Some((group, date)) = split_partitioned(&self.root, key) else {
            return false;
        };
        date >= self.first_date.as_str()
            && date <= self.last_date.as_str()
            && self.globs.iter().any(|g| matches_group(g, group))
    }
}

/// A partitioned key's group (as in the key: no leading `/`) and date: `<root><group>/<date>/<file>`.
pub fn split_partitioned<'k>(root: &str, key: &'k str) -> Option<(&'k str, &'k str)> {
    let rest = key.strip_prefix(root)?;
    let (dir, file) = rest.rsplit_once('/')?;
    let (group, date) = dir.rsplit_once('/')?;
    let is_date = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    (is_date && !group.is_empty() && !file.is_empty()).then_some((group, date))
}

/// Whether glob `g` (as the user wrote it: `/ecs/*`) names `group` as the key holds it (`ecs/api`: the
/// transform drops the leading `/`).
fn matches_group(g: &str, group: &str) -> bool {
    let glob = GroupGlob::new(g.trim_start_matches('/'));
    glob.matches(group)
}

/// What to list for objects of `[from_ms, to_ms)` and, in the partitioned layout, of `groups` (globs).
/// The error says why a selection cannot be made from the keys.
pub fn listings(
    layout: &KeyLayout,
    from_ms: i64,
    to_ms: i64,
    groups: &[String],
) -> Result<Vec<Listing>, String> {
    if from_ms >= to_ms {
        return Err("the range is empty: --from must be before --to".into());
    }
    match layout {
        KeyLayout::Time(prefix) => {
            if !groups.is_empty() {
                return Err(format!(
                    "--group: the time layout ({}) mixes every log group in each object, so a group \
                     cannot be selected by key; reindex the range without --group (documents already \
                     indexed answer 409, counted, not duplicated), or select groups with the partitioned \
                     layout (--layout partitioned, the stack's EnableDynamicPartitioning)",
                    prefix.as_str()
                ));
            }
            Ok(time_prefixes(prefix, from_ms, to_ms)
                .into_iter()
                .map(|prefix| Listing {
                    prefix,
                    filter: None,
                })
                .collect())
        }
        KeyLayout::Partitioned { root } => {
            if groups.is_empty() {
                return Err(
                    "--group: the partitioned layout is listed group by group; name the \
                            groups (globs such as '/ecs/*', or '*' for every group)"
                        .into(),
                );
            }
            let dates = dates(from_ms, to_ms);
            let mut out = Vec::new();
            for g in groups {
                let bare = g.trim_start_matches('/');
                if bare.is_empty() {
                    return Err(format!("--group {g:?}: no log group"));
                }
                match bare.find('*') {
                    None => out.extend(dates.iter().map(|d| Listing {
                        prefix: format!("{root}{bare}/{d}/"),
                        filter: None,
                    })),
                    Some(star) => out.push(Listing {
                        prefix: format!("{root}{}", &bare[..star]),
                        filter: Some(KeyFilter {
                            root: root.clone(),
                            globs: vec![g.clone()],
                            first_date: dates.first().cloned().unwrap_or_default(),
                            last_date: dates.last().cloned().unwrap_or_default(),
                        }),
                    }),
                }
            }
            // A glob's listing may hold a plain name's prefixes: list the broader one only (the plan also
            // drops a key selected twice, by overlapping globs).
            let globs: Vec<Listing> = out.iter().filter(|l| l.filter.is_some()).cloned().collect();
            let mut kept: Vec<Listing> = Vec::new();
            for l in out {
                let covered = globs.iter().any(|g| {
                    g.filter.as_ref().is_some_and(|f| f.covers(&l))
                        && l.prefix.starts_with(&g.prefix)
                });
                if !covered && !kept.contains(&l) {
                    kept.push(l);
                }
            }
            Ok(kept)
        }
    }
}

impl KeyFilter {
    /// Whether every key `l` selects is kept by this filter too (a plain group's day under this glob).
    fn covers(&self, l: &Listing) -> bool {
        l.filter.is_none() && self.keeps(&format!("{}x", l.prefix))
    }
}

/// The time layout's prefixes of `[from_ms, to_ms)`: an hour's, or a day's when every hour of that UTC day
/// is in the range and the layout has a day prefix (the text before `%H`).
pub fn time_prefixes(prefix: &KeyPrefix, from_ms: i64, to_ms: i64) -> Vec<String> {
    let text = prefix.as_str();
    let day_prefix = text
        .find("%H")
        .map(|at| &text[..at])
        .filter(|d| d.contains("%d"))
        .and_then(|d| d.parse::<KeyPrefix>().ok());
    let mut out: Vec<String> = Vec::new();
    let mut t = from_ms - from_ms.rem_euclid(HOUR_MS);
    while t < to_ms {
        let day = t - t.rem_euclid(DAY_MS);
        if let Some(d) = &day_prefix {
            if t == day && from_ms <= day && day + DAY_MS <= to_ms {
                out.push(d.at(day));
                t += DAY_MS;
                continue;
            }
        }
        let p = prefix.at(t);
        if out.last() != Some(&p) {
            out.push(p);
        }
        t += HOUR_MS;
    }
    out
}

/// The UTC dates (`YYYY-MM-DD`) `[from_ms, to_ms)` touches.
fn dates(from_ms: i64, to_ms: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut t = from_ms - from_ms.rem_euclid(DAY_MS);
    while t < to_ms {
        out.push(DateTimeParts::from_millis(t).date());
        t += DAY_MS;
    }
    out
}

/// A time as `--from`/`--to`/`--since`/`--until` take it, in ms: RFC 3339 with any offset
/// (`2026-03-01T09:00:00+01:00`), a UTC date (`2026-03-01`: its midnight), or how long before `now` (`6h`).
pub fn parse_time(s: &str, now: i64, flag: &str) -> Result<i64, String> {
    let s = s.trim();
    if s.len() == 10 {
        if let Some(ms) = logcore::base::time::parse_rfc3339_ms(&format!("{s}T00:00:00Z")) {
            return Ok(ms);
        }
    }
    crate::verify::parse_time(s, now, flag).map_err(|e| {
        e.replace(
            "expected an RFC 3339 time",
            "expected a date (2026-03-01), an RFC 3339 time",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(s: &str) -> i64 {
        logcore::base::time::parse_rfc3339_ms(s).unwrap()
    }

    fn prefixes(l: &[Listing]) -> Vec<&str> {
        l.iter().map(|l| l.prefix.as_str()).collect()
    }

    #[test]
    fn hours_and_whole_days_of_the_time_layout() {
        let p = KeyPrefix::default();
        // Two hours, across midnight.
        assert_eq!(
            time_prefixes(&p, ms("2026-03-01T23:00:00Z"), ms("2026-03-02T01:00:00Z")),
            ["logs/2026/03/01/23/", "logs/2026/03/02/00/"]
        );
        // A part of an hour lists the hour.
        assert_eq!(
            time_prefixes(&p, ms("2026-03-01T10:30:00Z"), ms("2026-03-01T10:31:00Z")),
            ["logs/2026/03/01/10/"]
        );
        // A whole day is listed as a day; the hours before and after as hours.
        assert_eq!(
            time_prefixes(&p, ms("2026-02-28T22:00:00Z"), ms("2026-03-02T01:00:00Z")),
            [
                "logs/2026/02/28/22/",
                "logs/2026/02/28/23/",
                "logs/2026/03/01/",
                "logs/2026/03/02/00/"
            ]
        );
        // An offset is a time like any other: 09:00+01:00 is 08:00 UTC.
        let from = parse_time("2026-03-01T09:00:00+01:00", 0, "--from").unwrap();
        assert_eq!(
            time_prefixes(&p, from, from + HOUR_MS),
            ["logs/2026/03/01/08/"]
        );
        // A layout by day only lists days.
        let days: KeyPrefix = "audit/%Y-%m-%d/".parse().unwrap();
        assert_eq!(
            time_prefixes(
                &days,
                ms("2026-03-01T23:00:00Z"),
                ms("2026-03-02T01:00:00Z")
            ),
            ["audit/2026-03-01/", "audit/2026-03-02/"]
        );
    }

    #[test]
    fn groups_of_the_partitioned_layout() {
        let layout = KeyLayout::Partitioned {
            root: "logs/".into(),
        };
        let (from, to) = (ms("2026-03-01T22:00:00Z"), ms("2026-03-02T02:00:00Z"));
        let l = listings(&layout, from, to, &["/ecs/api".into()]).unwrap();
        assert_eq!(
            prefixes(&l),
            ["logs/ecs/api/2026-03-01/", "logs/ecs/api/2026-03-02/"]
        );
        // Special characters are the key's own: listed as they are (the notification encodes them).
        let l = listings(&layout, from, from + 1, &["/aws/lambda/my-fn#1.v2".into()]).unwrap();
        assert_eq!(prefixes(&l), ["logs/aws/lambda/my-fn#1.v2/2026-03-01/"]);
        // A glob lists under its literal start, and keys are kept by group and date.
        let l = listings(&layout, from, to, &["/ecs/*".into(), "/ecs/api".into()]).unwrap();
        assert_eq!(prefixes(&l), ["logs/ecs/"]);
        let f = l[0].filter.as_ref().unwrap();
        assert!(f.keeps("logs/ecs/api/2026-03-01/s-1.gz"));
        assert!(f.keeps("logs/ecs/web/worker/2026-03-02/s-1.gz"));
        assert!(!f.keeps("logs/ecs/api/2026-03-03/s-1.gz"));
        assert!(!f.keeps("logs/ecs/api/2026-02-28/s-1.gz"));
        assert!(!f.keeps("logs/ecs/api/not-a-date/s-1.gz"));
        assert!(!f.keeps("logs/ecsx/2026-03-01/s-1.gz"));
        assert!(!f.keeps("audit/ecs/api/2026-03-01/s-1.gz"));
        // Every group.
        let l = listings(&layout, from, to, &["*".into()]).unwrap();
        assert_eq!(prefixes(&l), ["logs/"]);
        assert!(l[0].filter.as_ref().unwrap().keeps("logs/x/2026-03-02/a"));
    }

    #[test]
    fn selections_the_keys_cannot_make_are_refused() {
        let time = KeyLayout::Time(KeyPrefix::default());
        let e = listings(&time, 0, HOUR_MS, &["/ecs/api".into()]).unwrap_err();
        assert!(e.contains("mixes every log group"), "{e}");
        let part = KeyLayout::Partitioned {
            root: "logs/".into(),
        };
        assert!(listings(&part, 0, HOUR_MS, &[])
            .unwrap_err()
            .contains("--group"));
        assert!(listings(&part, 0, HOUR_MS, &["/".into()]).is_err());
        assert!(listings(&time, HOUR_MS, HOUR_MS, &[])
            .unwrap_err()
            .contains("empty"));
        assert_eq!(
            parse_time("2026-03-01", 0, "--from"),
            Ok(ms("2026-03-01T00:00:00Z"))
        );
        assert_eq!(parse_time("2h", 10 * HOUR_MS, "--from"), Ok(8 * HOUR_MS));
        let e = parse_time("March", 0, "--from").unwrap_err();
        assert!(e.contains("--from") && e.contains("2026-03-01"), "{e}");
    }

    proptest! {
        /// Every hour of the range is under exactly one listed prefix, and no prefix lies outside it.
        #[test]
        fn time_prefixes_cover_the_range_once(from_h in 0i64..2_000, len_h in 1i64..200) {
            let p = KeyPrefix::default();
            let base = ms("2026-01-01T00:00:00Z");
            let (from, to) = (base + from_h * HOUR_MS, base + (from_h + len_h) * HOUR_MS);
            let got = time_prefixes(&p, from, to);
            let mut t = from;
            while t < to {
                let hour = p.at(t);
                prop_assert_eq!(got.iter().filter(|g| hour.starts_with(g.as_str())).count(), 1);
                t += HOUR_MS;
            }
            for g in &got {
                let inside = (from_h..from_h + len_h)
                    .any(|h| p.at(base + h * HOUR_MS).starts_with(g.as_str()));
                prop_assert!(inside, "{} is outside the range", g);
            }
        }

        /// Reading a partitioned key back never panics, and finds what was written.
        #[test]
        fn partitioned_keys_read_back(group in "[a-zA-Z0-9_./#-]{1,40}", key in "\\PC{0,60}") {
            let k = format!("logs/{group}/2026-03-01/f.gz");
            let trimmed = group.trim_end_matches('/');
            if !group.ends_with('/') && !group.contains("//") {
                prop_assert_eq!(split_partitioned("logs/", &k), Some((trimmed, "2026-03-01")));
            }
            let _ = split_partitioned("logs/", &key);
        }
    }
}
