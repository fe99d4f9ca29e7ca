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

    proptest! {
        #[test]
        fn agrees_with_chrono(ms in MIN_MILLIS..=MAX_MILLIS) {
            let ours = DateTimeParts::from_millis(ms).rfc3339();
            let theirs = chrono::DateTime::from_timestamp_millis(ms).unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            prop_assert_eq!(ours, theirs);
        }
    }
}
