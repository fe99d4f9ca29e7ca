//! What the replay counted at every hop, the check that every event is accounted for, and its table.

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub lines: u64,
    pub blank_lines: u64,
    pub events: u64,
    pub transform_records: u64,
    pub transform_invocations: u64,
    pub documents: u64,
    /// Events delivered inside another event's document (the lines of a stack trace after its first).
    pub joined: u64,
    /// Events whose documents no Firehose response could carry, written to S3 by the transform itself.
    pub written_directly: u64,
    pub excluded: u64,
    pub events_failed: u64,
    pub records_failed: u64,
    pub objects: u64,
    pub indexed: u64,
    pub already_indexed: u64,
    pub dead_lettered: u64,
    pub objects_failed: u64,
    pub alerts: u64,
    pub suppressed: u64,
    pub slack_messages: u64,
    pub slack_failed: u64,
    /// What was read, indexed and dead-lettered per log group and hour (the reconciliation's table).
    #[serde(skip)]
    pub ledger: logcore::ledger::Ledger,
    /// What the transform counted of what it received (its report lines' `ledger`, added up).
    #[serde(skip)]
    pub received: logcore::ledger::Tally,
}

impl Totals {
    /// What went missing between hops, if anything.
    pub fn lost(&self) -> Vec<String> {
        let mut lost = Vec::new();
        let accounted = self.documents + self.joined + self.excluded + self.events_failed;
        if accounted != self.events {
            lost.push(format!(
                "transform: {} events in, {} documents + {} joined into them + {} excluded + {} failed",
                self.events, self.documents, self.joined, self.excluded, self.events_failed
            ));
        }
        if self.events_failed > 0 || self.records_failed > 0 {
            lost.push(format!(
                "transform: {} records ({} events) failed (Firehose would write them to errors/)",
                self.records_failed, self.events_failed
            ));
        }
        let forwarded = self.indexed + self.already_indexed + self.dead_lettered;
        if forwarded != self.documents || self.objects_failed > 0 {
            lost.push(format!(
                "search: {} documents, {} indexed + {} already indexed + {} dead-lettered; {} objects not fully forwarded",
                self.documents, self.indexed, self.already_indexed, self.dead_lettered, self.objects_failed
            ));
        }
        if self.slack_failed > 0 {
            lost.push(format!(
                "slack: {} messages not delivered",
                self.slack_failed
            ));
        }
        lost
    }

    pub fn table(&self) -> String {
        let rows = [
            ("hop", "in".to_string(), "out".to_string()),
            (
                "read",
                format!("{} lines", self.lines),
                format!(
                    "{} events, {} blank lines skipped",
                    self.events, self.blank_lines
                ),
            ),
            (
                "transform",
                format!(
                    "{} events, {} invocations",
                    self.events, self.transform_invocations
                ),
                format!(
                    "{} documents ({} too large for a response, written to S3 directly; {} more events joined into them), {} excluded by filters, {} failed",
                    self.documents, self.written_directly, self.joined, self.excluded, self.events_failed
                ),
            ),
            (
                "s3",
                format!("{} documents", self.documents),
                format!("{} objects", self.objects),
            ),
            (
                "search",
                format!("{} documents", self.documents),
                format!(
                    "{} indexed, {} already indexed, {} dead-lettered (failed/)",
                    self.indexed, self.already_indexed, self.dead_lettered
                ),
            ),
            (
                "slack",
                format!("{} documents", self.documents),
                format!(
                    "{} alerts ({} repeats suppressed), {} messages, {} undelivered",
                    self.alerts, self.suppressed, self.slack_messages, self.slack_failed
                ),
            ),
        ];
        let w = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(hop, i, o)| format!("{hop:<10} {i:<w$}  {o}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
