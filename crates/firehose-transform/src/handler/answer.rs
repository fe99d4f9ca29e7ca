//! The answer being built: one result per record, and what each result counts in the summary (one place
//! for each: failed, dropped, `Ok` with documents).

use logcore::transform::firehose::{
    PartitionKeys, RecordResult, ResponseBudget, ResponseWriter, TransformRecord,
};

use super::{Failure, Summary};

/// The answer being built: one result per record, and the counts.
pub(super) struct Answer<S> {
    pub(super) writer: ResponseWriter,
    pub(super) budget: ResponseBudget,
    pub(super) s: Summary<S>,
    pub(super) failures: Vec<Failure>,
}

impl<S: Default> Answer<S> {
    pub(super) fn fail(&mut self, record: &TransformRecord, reason: String) {
        self.writer
            .push(&record.record_id, RecordResult::ProcessingFailed);
        self.s.failed += 1;
        self.failures.push(Failure {
            record_id: record.record_id.clone(),
            reason,
        });
    }

    /// `ProcessingFailed`, with the record's `events` that were to be delivered counted as failed.
    pub(super) fn fail_events(&mut self, record: &TransformRecord, events: u64, reason: String) {
        self.s.events_failed += events;
        self.fail(record, reason);
    }

    pub(super) fn drop_record(&mut self, record: &TransformRecord) {
        self.writer.push(&record.record_id, RecordResult::Dropped);
        self.s.dropped += 1;
    }

    /// `Ok` with `docs`, the documents of `events` events of `group`, when the response has room for them
    /// (and their partition keys); `false`, with nothing answered, when it has not. `joined`: the
    /// timestamps of those events that are in another event's document. `encoded`: the base64 of `docs`
    /// when it was encoded already (on another thread).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn try_ok(
        &mut self,
        record: &TransformRecord,
        docs: &[u8],
        encoded: Option<&str>,
        keys: Option<&PartitionKeys>,
        events: u64,
        group: &str,
        joined: &[i64],
    ) -> bool {
        if !self.budget.try_ok(&record.record_id, docs.len(), keys) {
            return false;
        }
        match encoded {
            Some(b64) => self.writer.push_ok_encoded(&record.record_id, b64, keys),
            None => self.writer.push_ok(&record.record_id, docs, keys),
        }
        self.s.ok += 1;
        self.s.events_out += events;
        self.s.documents_out += events - joined.len() as u64;
        self.s.events_joined += joined.len() as u64;
        self.s.ledger.joined(group, joined.iter().copied());
        self.s.bytes_out += docs.len() as u64;
        true
    }
}
