//! The transform hop's own counts: each transform invocation's report line (`transform summary`) carries
//! its `ledger` (`logcore::ledger::Tally`): per log group and hour, the events it received from CloudWatch
//! Logs (each once: re-ingested records are not counted again), those its include/exclude filter dropped,
//! and those it wrote to S3 itself. Read back here with FilterLogEvents on the transform's log group, over
//! the window and the hours after it in which the window's events may still be transformed.
//!
//! A report line without a ledger (a transform older than the reconciliation) leaves the hop's counts
//! short, so it is a problem named, not a zero.

use logcore::ledger::{Tally, TallyRow, HOUR_MS};
use serde_json::Value;

use super::dead_letters::{EARLY_HOURS, LATE_HOURS};
use crate::{CallError, Logs};

/// The report lines' message, as a FilterLogEvents term.
pub const REPORT_PATTERN: &str = "\"transform summary\"";
/// Report lines read at most per transform log group and run: about a month of a transform's invocations
/// at 100 GB a day (1,400 an hour) fits a day's window many times over.
pub const MAX_LINES: usize = 200_000;

/// What the transforms' report lines say of a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformCounts {
    pub tally: Tally,
    /// Report lines read.
    pub lines: u64,
    /// Lines that are not report lines with a ledger, and the first one's reason.
    pub unreadable: u64,
    pub first_unreadable: Option<String>,
}

/// The ledger of one report line; an error says why the line has none.
pub fn parse_line(message: &str) -> Result<Vec<TallyRow>, String> {
    let v: Value =
        serde_json::from_str(message.trim()).map_err(|e| format!("not a JSON line: {e}"))?;
    let fields = v.get("fields").unwrap_or(&v);
    if fields.get("message").and_then(Value::as_str) != Some("transform summary") {
        return Err("not a transform's report line".into());
    }
    let ledger = fields
        .get("ledger")
        .ok_or("a report line without a ledger (a transform older than the reconciliation)")?;
    serde_json::from_value(ledger.clone()).map_err(|e| format!("its ledger: {e}"))
}

/// Read the report lines of `log_groups` from [`EARLY_HOURS`] before `from_ms` (events dated ahead of
/// their delivery) to [`LATE_HOURS`] after `to_ms`; only rows of the window's hours are the window's.
pub async fn count<L: Logs>(
    logs: &L,
    log_groups: &[String],
    from_ms: i64,
    to_ms: i64,
) -> Result<TransformCounts, CallError> {
    let mut out = TransformCounts::default();
    let end = to_ms + LATE_HOURS * HOUR_MS - 1;
    for group in log_groups {
        let start = from_ms - EARLY_HOURS * HOUR_MS;
        let lines = logs
            .find(group, REPORT_PATTERN, start, end, MAX_LINES + 1)
            .await?;
        if lines.len() > MAX_LINES {
            return Err(CallError::permanent(format!(
                "{group} holds more than {MAX_LINES} report lines in the window: reconcile a shorter one"
            )));
        }
        for line in &lines {
            out.lines += 1;
            match parse_line(&line.message) {
                Ok(rows) => rows.iter().for_each(|r| out.tally.add_row(r)),
                Err(e) => {
                    out.unreadable += 1;
                    out.first_unreadable
                        .get_or_insert_with(|| format!("{group}, event {}: {e}", line.event_id));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::FakeLogs;
    use logcore::ledger::Seen;
    use proptest::prelude::*;

    const H: i64 = 1_795_420_800_000;

    /// A report line as `logcore::base::report::line` prints it for a transform.
    fn report_line(ledger: &str) -> String {
        format!(
            r#"{{"_aws":{{"Timestamp":{H},"CloudWatchMetrics":[]}},"FunctionName":"logpipe-prod-app-transform","EventsIn":3,"level":"INFO","fields":{{"message":"transform summary","request_id":"r-1","events_in":3,"ledger":{ledger}}}}}"#
        )
    }

    #[test]
    fn a_report_lines_ledger_is_read_and_anything_else_is_named() {
        let line = report_line(&format!(
            r#"[{{"group":"/ecs/api","hour":{H},"received":3,"excluded":1}}]"#
        ));
        let rows = parse_line(&line).unwrap();
        assert_eq!(rows[0].group, "/ecs/api");
        assert_eq!(
            rows[0].seen,
            Seen {
                received: 3,
                excluded: 1,
                ..Seen::default()
            }
        );
        assert!(parse_line("START RequestId: 1")
            .unwrap_err()
            .starts_with("not a JSON line"));
        let old = line.replace(r#","ledger":"#, r#","ledger_":"#);
        assert!(parse_line(&old).unwrap_err().contains("without a ledger"));
        let warn =
            r#"{"level":"WARN","fields":{"message":"record failed","reason":"transform summary"}}"#;
        assert!(parse_line(warn).unwrap_err().contains("not a transform's"));
        let bad = report_line(r#"[{"group":"/ecs/api","hour":"08:00"}]"#);
        assert!(parse_line(&bad).unwrap_err().starts_with("its ledger"));
    }

    #[tokio::test]
    async fn the_report_lines_of_the_window_and_the_hours_after_it_are_added_up() {
        let logs = FakeLogs::default();
        let row = |n| format!(r#"[{{"group":"/ecs/api","hour":{H},"received":{n}}}]"#);
        for (at, line) in [
            (H + 5 * 60_000, report_line(&row(3))),
            // Transformed late, in the next hour but one: still the window's.
            (H + 2 * HOUR_MS + 50 * 60_000, report_line(&row(2))),
            // Events dated ahead of CloudWatch Logs' clock, transformed before their hour began.
            (H - 30 * 60_000, report_line(&row(4))),
            // Past the window and its late hours, or long before it: not read.
            (H + 3 * HOUR_MS, report_line(&row(100))),
            (H - 3 * HOUR_MS, report_line(&row(100))),
            (
                H + 6 * 60_000,
                report_line("[]").replace("ledger", "nothing"),
            ),
        ] {
            logs.put("/logpipe/prod/app-transform", "s", at, &line)
                .await
                .unwrap();
        }
        let groups = ["/logpipe/prod/app-transform".to_string()];
        let c = count(&logs, &groups, H, H + HOUR_MS).await.unwrap();
        assert_eq!(c.tally.rows().map(|r| r.seen.received).sum::<u64>(), 9);
        assert_eq!((c.lines, c.unreadable), (4, 1));
        assert!(c.first_unreadable.unwrap().contains("without a ledger"));
    }

    proptest! {
        #[test]
        fn any_line_is_read_or_refused(line in ".{0,300}") {
            let _ = parse_line(&line);
        }
    }
}
