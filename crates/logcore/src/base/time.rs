//! Event-time formatting: RFC 3339 UTC with milliseconds, and the calendar parts used for partitioning.
//!
//! Hand-written rather than through a date crate because it runs once per log event on the hot path; it is
//! checked against `chrono` by a property test.

/// Calendar parts of a millisecond timestamp, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeParts {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

/// The earliest and latest millisecond timestamps formatted as four-digit years (0000-01-01 … 9999-12-31).
pub const MIN_MILLIS: i64 = -62_167_219_200_000;
pub const MAX_MILLIS: i64 = 253_402_300_799_999;

impl DateTimeParts {
    /// Split `millis` since the Unix epoch, clamped to the range RFC 3339 can express (years 0000–9999).
    pub fn from_millis(millis: i64) -> Self {
        let millis = millis.clamp(MIN_MILLIS, MAX_MILLIS);
        let days = millis.div_euclid(86_400_000);
        let ms_of_day = millis.rem_euclid(86_400_000) as u32;
        let (year, month, day) = civil_from_days(days);
        DateTimeParts {
            year,
            month,
            day,
            hour: ms_of_day / 3_600_000,
            minute: ms_of_day / 60_000 % 60,
            second: ms_of_day / 1000 % 60,
            millis: ms_of_day % 1000,
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`: always 24 bytes.
    pub fn write_rfc3339(&self, out: &mut Vec<u8>) {
        let y = self.year as u32; // 0..=9999 after clamping
        let buf = [
            digit(y / 1000),
            digit(y / 100 % 10),
            digit(y / 10 % 10),
            digit(y % 10),
            b'-',
            digit(self.month / 10),
            digit(self.month % 10),
            b'-',
            digit(self.day / 10),
            digit(self.day % 10),
            b'T',
            digit(self.hour / 10),
            digit(self.hour % 10),
            b':',
            digit(self.minute / 10),
            digit(self.minute % 10),
            b':',
            digit(self.second / 10),
            digit(self.second % 10),
            b'.',
            digit(self.millis / 100),
            digit(self.millis / 10 % 10),
            digit(self.millis % 10),
            b'Z',
        ];
        out.extend_from_slice(&buf);
    }

    pub fn rfc3339(&self) -> String {
        let mut v = Vec::with_capacity(24);
        self.write_rfc3339(&mut v);
        String::from_utf8(v).expect("ASCII")
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// [`DateTimeParts::write_rfc3339`] for one timestamp after another, the date part kept from the last one:
/// the events of a payload are mostly of one day, and the calendar date is most of the work.
#[derive(Debug)]
pub struct Rfc3339Writer {
    /// The day (since the epoch) and its `YYYY-MM-DDT`.
    last: std::cell::Cell<(i64, [u8; 11])>,
}

impl Default for Rfc3339Writer {
    fn default() -> Self {
        Rfc3339Writer {
            last: std::cell::Cell::new((i64::MIN, [0; 11])),
        }
    }
}

impl Rfc3339Writer {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` of `millis`, clamped like [`DateTimeParts::from_millis`].
    pub fn write(&self, millis: i64, out: &mut Vec<u8>) {
        let millis = millis.clamp(MIN_MILLIS, MAX_MILLIS);
        let day = millis.div_euclid(86_400_000);
        let (last, mut date) = self.last.get();
        if last != day {
            let mut full = Vec::with_capacity(24);
            DateTimeParts::from_millis(millis).write_rfc3339(&mut full);
            date.copy_from_slice(&full[..11]);
            self.last.set((day, date));
        }
        let ms = millis.rem_euclid(86_400_000) as u32;
        let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        out.extend_from_slice(&date);
        out.extend_from_slice(&[
            digit(h / 10),
            digit(h % 10),
            b':',
            digit(m / 10),
            digit(m % 10),
            b':',
            digit(s / 10),
            digit(s % 10),
            b'.',
            digit(f / 100),
            digit(f / 10 % 10),
            digit(f % 10),
            b'Z',
        ]);
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for a microsecond timestamp (27 bytes), clamped like
/// [`DateTimeParts::from_millis`].
pub fn write_rfc3339_micros(micros: i64, out: &mut Vec<u8>) {
    let micros = micros.clamp(MIN_MILLIS * 1000, MAX_MILLIS * 1000 + 999);
    let parts = DateTimeParts::from_millis(micros.div_euclid(1000));
    let mut ms = Vec::with_capacity(24);
    parts.write_rfc3339(&mut ms);
    out.extend_from_slice(&ms[..23]);
    let sub = micros.rem_euclid(1000) as u32;
    out.extend_from_slice(&[
        digit(sub / 100),
        digit(sub / 10 % 10),
        digit(sub % 10),
        b'Z',
    ]);
}

/// Seconds since the Unix epoch of a UTC civil date and time, or `None` when a part is out of range.
pub fn epoch_seconds(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<i64> {
    if !(0..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(
        days_from_civil(year, month, day) * 86_400
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second),
    )
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// (year, month, day) to days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = i64::from((m + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

fn digit(n: u32) -> u8 {
    b'0' + n as u8
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Time left until `deadline_ms` (milliseconds since the epoch, as the Lambda context gives the deadline);
/// zero once it has passed.
pub fn until_epoch_ms(deadline_ms: u64) -> std::time::Duration {
    let deadline = std::time::UNIX_EPOCH + std::time::Duration::from_millis(deadline_ms);
    deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(
            DateTimeParts::from_millis(0).rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            DateTimeParts::from_millis(1_763_600_000_123).rfc3339(),
            "2025-11-20T00:53:20.123Z"
        );
        assert_eq!(
            DateTimeParts::from_millis(951_782_400_000).date(),
            "2000-02-29"
        );
        assert_eq!(
            DateTimeParts::from_millis(-1).rfc3339(),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            DateTimeParts::from_millis(i64::MAX).rfc3339(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            DateTimeParts::from_millis(i64::MIN).rfc3339(),
            "0000-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn micros_and_civil() {
        let mut v = Vec::new();
        write_rfc3339_micros(1_700_000_000_123_456, &mut v);
        assert_eq!(v, b"2023-11-14T22:13:20.123456Z");
        assert_eq!(epoch_seconds(2023, 11, 14, 22, 13, 20), Some(1_700_000_000));
        assert_eq!(epoch_seconds(1970, 1, 1, 0, 0, 0), Some(0));
        assert_eq!(epoch_seconds(2023, 2, 29, 0, 0, 0), None);
        assert_eq!(epoch_seconds(2024, 2, 29, 0, 0, 0), Some(1_709_164_800));
        assert_eq!(epoch_seconds(2024, 13, 1, 0, 0, 0), None);
    }

    proptest! {
        /// Timestamps one after another (near each other, or anywhere, beyond the range too) are written
        /// as each alone is.
        #[test]
        fn the_writer_keeping_the_date_writes_each_time_alone(
            start in any::<i64>(),
            steps in proptest::collection::vec(prop_oneof![-90_000_000i64..90_000_000, any::<i64>()], 0..30),
        ) {
            let w = Rfc3339Writer::default();
            let mut t = start;
            for step in std::iter::once(0).chain(steps) {
                t = t.wrapping_add(step);
                let (mut kept, mut alone) = (Vec::new(), Vec::new());
                w.write(t, &mut kept);
                DateTimeParts::from_millis(t).write_rfc3339(&mut alone);
                prop_assert_eq!(kept, alone, "{}", t);
            }
        }

        #[test]
        fn civil_round_trip(s in MIN_MILLIS / 1000..=MAX_MILLIS / 1000) {
            let p = DateTimeParts::from_millis(s * 1000);
            prop_assert_eq!(epoch_seconds(p.year, p.month, p.day, p.hour, p.minute, p.second), Some(s));
        }

        #[test]
        fn agrees_with_chrono(ms in MIN_MILLIS..=MAX_MILLIS) {
            let ours = DateTimeParts::from_millis(ms).rfc3339();
            let theirs = chrono::DateTime::from_timestamp_millis(ms).unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            prop_assert_eq!(ours, theirs);
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (`2025-11-21T10:00:00.120Z`, `…+01:00`, a space for
/// `T`, any number of fraction digits), or `None` when it is not one.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let secs = epoch_seconds(
        i64::from(num(0..4)?),
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )?;
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &b[start..i.min(start + 3)];
        let mut ms = 0i64;
        for k in 0..3 {
            ms = ms * 10 + frac.get(k).map_or(0, |d| i64::from(d - b'0'));
        }
        millis = ms;
    }
    let offset = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let h = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let m = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    Some((secs - offset) * 1000 + millis)
}

#[cfg(test)]
mod rfc3339_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_what_documents_carry() {
        assert_eq!(
            parse_rfc3339_ms("2025-11-21T10:00:00.120Z"),
            Some(1_763_719_200_120)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-21T11:00:00+01:00"),
            Some(1_763_719_200_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2025-11-21 10:00:00.123456Z"),
            Some(1_763_719_200_123)
        );
        for bad in [
            "",
            "2025-11-21",
            "2025-11-21T10:00:00",
            "2025-13-21T10:00:00Z",
            "2025-11-21T10:00:00.Z",
            "2025-11-21T10:00:00+1:00",
            "２０２５-11-21T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trips_with_the_writer(ms in 0i64..253_402_300_799_000) {
            let s = DateTimeParts::from_millis(ms).rfc3339();
            prop_assert_eq!(parse_rfc3339_ms(&s), Some(ms));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_rfc3339_ms(&s);
        }
    }
}

/// The wall clock, in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
