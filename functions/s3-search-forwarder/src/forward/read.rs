//! The blocking side of forwarding an object: read, decompress, frame, build documents and bulk bodies,
//! batch and compress them, and hand batches and dead letters to the async side through a bounded channel.

use std::io;
use std::sync::{Arc, Mutex};

use logcore::logs::framing::{decoder, Framer, Unit, UnitKind};
use logcore::logs::multiline::{Held, Kind, Rules};
use logcore::search::bulk::{Batch, DeadLetter, DocBuilder, Origin, UnitOutcome};
use tokio::sync::mpsc;

use super::{Msg, ReadEnd};
use crate::checkpoint::Checkpoint;
use crate::Config;

/// Emptied batches to fill again.
pub(super) type Pool = Arc<Mutex<Vec<Batch>>>;

pub(super) fn recycle(pool: &Pool, mut batch: Batch, keep: usize, min_capacity: usize) {
    if batch.body.capacity() < min_capacity {
        return;
    }
    batch.body.clear();
    batch.items.clear();
    if let Ok(mut p) = pool.lock() {
        if p.len() < keep {
            p.push(batch);
        }
    }
}

/// Dead-letter records not yet handed over, and the offset of the first.
#[derive(Default)]
struct DeadBuf {
    lines: Vec<u8>,
    first: u64,
    count: u64,
}

impl DeadBuf {
    fn add(&mut self, d: DeadLetter<'_>) {
        if self.count == 0 {
            self.first = d.offset;
        }
        d.write(&mut self.lines);
        self.count += 1;
    }

    /// A unit (or the rest of the object, `len` 0) that cannot be indexed, and why.
    fn add_unit(&mut self, src: &Origin, offset: u64, len: u64, reason: &str, data: &[u8]) {
        self.add(DeadLetter {
            src,
            offset,
            len,
            reason,
            status: None,
            error_type: None,
            action: None,
            data,
        });
    }

    /// Hand the records over (if any); false once the receiver is gone.
    fn flush(&mut self, tx: &mpsc::Sender<Msg>) -> bool {
        if self.count == 0 {
            return true;
        }
        let msg = Msg::Dead(std::mem::take(&mut self.lines), self.first, self.count);
        self.count = 0;
        tx.blocking_send(msg).is_ok()
    }
}

/// The blocking side: read, frame, build, batch, compress. Units a checkpoint covers are framed and
/// skipped. Pending dead letters are handed over before each batch, so that the end of every batch is a
/// point where nothing is pending: a checkpoint is only ever such a point, and a resumed delivery cuts the
/// same batches and dead-letter objects (the same keys) as the first one.
pub(super) fn read_object(
    cfg: &Config,
    src: &Origin,
    body: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    tx: mpsc::Sender<Msg>,
    pool: &Pool,
    resume: Checkpoint,
) -> ReadEnd {
    let mut end = ReadEnd::default();
    let bridge = tokio_util::io::SyncIoBridge::new(body);
    let dec = match decoder(bridge, cfg.max_object_bytes) {
        Ok((_, d)) => d,
        Err(e) => {
            end.error = Some(format!("reading the object: {e}"));
            return end;
        }
    };
    let mut framer = Framer::new(dec, cfg.max_doc_bytes);
    if !skip_resumed(&mut framer, resume, &tx, &mut end) {
        return end;
    }
    let mut builder = DocBuilder::new(cfg.index_for(&src.key).clone(), cfg.json);
    builder.separate = cfg.separate.clone();
    let new_batch = || {
        pool.lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| Batch::with_capacity(cfg.bulk_max_bytes + 64 * 1024))
    };
    let mut batch = new_batch();
    let mut dead = DeadBuf::default();
    let mut gzipper = cfg
        .gzip
        .then(|| logcore::base::codec::Gzipper::new(cfg.gzip_level));
    let mut send_batch = |batch: Batch, at: Checkpoint| -> bool {
        let gz = gzipper.as_mut().map(|g| g.gzip(&batch.body));
        tx.blocking_send(Msg::Batch(batch, gz, at)).is_ok()
    };
    // Text lines held until the line after them shows where their record ends (multiline joining).
    let mut held = HeldLines::new(if resume.units == 0 {
        Held::RunStart
    } else if resume.after_cap {
        Held::AfterCap
    } else {
        Held::Fresh
    });
    loop {
        let before = (end.forwarded.units, framer.offset());
        let unit = match framer.next_unit() {
            Ok(Some(u)) => u,
            Ok(None) => break,
            Err(e) if is_corrupt(&e) => {
                // The data itself is broken: no delivery will read further. Record where and why.
                let offset = framer.offset();
                let reason = format!("object unreadable from decompressed offset {offset}: {e}");
                dead.add_unit(src, offset, 0, &reason, b"");
                break;
            }
            Err(e) => {
                end.error = Some(format!(
                    "reading the object at decompressed offset {}: {e}",
                    framer.offset()
                ));
                break;
            }
        };
        end.forwarded.units += 1;
        let line = match (&cfg.multiline, unit.kind) {
            (Some(_), UnitKind::Text) if !unit.truncated() => std::str::from_utf8(unit.bytes).ok(),
            _ => None,
        };
        if let (Some(rules), Some(line)) = (&cfg.multiline, line) {
            let (offset, text) = (unit.offset, line.to_string());
            held.push(before, offset, text, (end.forwarded.units, framer.offset()));
            held.emit(rules, src, false, &mut builder, &mut batch, &mut end);
        } else {
            // Anything but a text line ends what is held.
            if let Some(rules) = &cfg.multiline {
                held.emit(rules, src, true, &mut builder, &mut batch, &mut end);
            }
            if let UnitOutcome::DeadLetter(reason) = builder.add(&unit, src, &mut batch) {
                dead.add_unit(src, unit.offset, unit.len, &reason, unit.bytes);
                if dead.lines.len() >= cfg.dead_letter_chunk && !dead.flush(&tx) {
                    break;
                }
            }
        }
        if batch.body.len() >= cfg.bulk_max_bytes || batch.len() >= cfg.bulk_max_actions {
            // Lines still held are not in the batch: the checkpoint stands before them.
            let at = held.checkpoint(resume, (end.forwarded.units, framer.offset()));
            if !dead.flush(&tx) || !send_batch(std::mem::replace(&mut batch, new_batch()), at) {
                break;
            }
        }
    }
    end.forwarded.blank_lines = framer.blank_lines;
    end.forwarded.bytes_decompressed = framer.offset();
    if end.error.is_none() {
        if let Some(rules) = &cfg.multiline {
            held.emit(rules, src, true, &mut builder, &mut batch, &mut end);
        }
    }
    if end.error.is_none() && dead.flush(&tx) && !batch.is_empty() {
        let at = Checkpoint {
            units: resume.units + end.forwarded.units,
            offset: framer.offset(),
            after_cap: false,
        };
        send_batch(batch, at);
    }
    end
}

/// Text lines of an object read but not yet made documents: the record they begin may go on with the next
/// line ([`Rules::settled`]). At most a record's caps of them (500 lines, 1 MB), so memory stays bounded.
struct HeldLines {
    lines: Vec<HeldLine>,
    /// Where the first held line stands: the start of the object's text, after a complete record, or in a
    /// record a cap cut.
    from: Held,
    /// Units handled before the first held line, and the framer's offset then.
    before: (u64, u64),
}

struct HeldLine {
    offset: u64,
    text: String,
    /// Units handled once this line was, and the framer's offset then.
    after: (u64, u64),
}

impl HeldLines {
    fn new(from: Held) -> Self {
        HeldLines {
            lines: Vec::new(),
            from,
            before: (0, 0),
        }
    }

    fn push(&mut self, before: (u64, u64), offset: u64, text: String, after: (u64, u64)) {
        if self.lines.is_empty() {
            self.before = before;
        }
        self.lines.push(HeldLine {
            offset,
            text,
            after,
        });
    }

    /// Where a delivery stands with these lines held: before them (units of this delivery counted from
    /// `resume`), or at `now` when none is held.
    fn checkpoint(&self, resume: Checkpoint, now: (u64, u64)) -> Checkpoint {
        let (units, offset) = if self.lines.is_empty() {
            now
        } else {
            self.before
        };
        Checkpoint {
            units: resume.units + units,
            offset,
            after_cap: !self.lines.is_empty() && self.from == Held::AfterCap,
        }
    }

    /// Make documents of the complete records held (all of them when `done`: no line of the record can
    /// follow), each record one document of its first line.
    fn emit(
        &mut self,
        rules: &Rules,
        src: &Origin,
        done: bool,
        builder: &mut DocBuilder,
        batch: &mut Batch,
        end: &mut ReadEnd,
    ) {
        if self.lines.is_empty() {
            if done {
                // A unit that is no held line passed: what follows does not begin the object.
                self.from = Held::Fresh;
            }
            return;
        }
        let texts: Vec<&str> = self.lines.iter().map(|l| l.text.as_str()).collect();
        let (records, next) = rules.settled(&src.key, &texts, self.from, done);
        let mut taken = 0;
        let mut joined = String::new();
        for r in &records {
            let lines = &self.lines[r.start..r.start + r.len];
            joined.clear();
            for (i, l) in lines.iter().enumerate() {
                if i > 0 {
                    joined.push('\n');
                }
                joined.push_str(&l.text);
            }
            let unit = Unit {
                offset: lines[0].offset,
                len: joined.len() as u64,
                bytes: joined.as_bytes(),
                kind: UnitKind::Text,
            };
            if r.kind == Kind::Single {
                // A line alone: the document it always made.
                builder.add(&unit, src, batch);
            } else {
                builder.add_joined(&unit, src, r.len - 1, r.kind, batch);
                end.forwarded.lines_joined += (r.len - 1) as u64;
            }
            taken += r.len;
        }
        if taken > 0 {
            self.before = self.lines[taken - 1].after;
            self.lines.drain(..taken);
        }
        self.from = next;
    }
}

/// Frame past the units the checkpoint `resume` covers. False when reading stops there: the object cannot
/// be read that far, the checkpoint does not describe it (`end.stale_checkpoint`), or the receiver is gone.
fn skip_resumed<R: io::BufRead>(
    framer: &mut Framer<R>,
    resume: Checkpoint,
    tx: &mpsc::Sender<Msg>,
    end: &mut ReadEnd,
) -> bool {
    while end.forwarded.units_resumed < resume.units {
        match framer.next_unit() {
            Ok(Some(_)) => end.forwarded.units_resumed += 1,
            Ok(None) => break,
            Err(e) => {
                end.error = Some(format!(
                    "reading the object at decompressed offset {} (resuming at unit {}): {e}",
                    framer.offset(),
                    resume.units
                ));
                return false;
            }
        }
        if end.forwarded.units_resumed.is_multiple_of(4096) && tx.is_closed() {
            return false;
        }
    }
    if end.forwarded.units_resumed != resume.units || framer.offset() != resume.offset {
        end.stale_checkpoint = true;
        end.error = Some(format!(
            "the checkpoint ({} units to decompressed offset {}) does not match the object ({} units to \
             offset {}); it is removed and the next delivery reads the object from the start",
            resume.units,
            resume.offset,
            end.forwarded.units_resumed,
            framer.offset()
        ));
        return false;
    }
    true
}

/// Errors in the data (not in reading it): corrupt compression, the decompression cap.
fn is_corrupt(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint taken while lines are held stands before the first of them, with the cap state of the
    /// record they continue; with none held, where the reading is.
    #[test]
    fn a_checkpoint_never_falls_inside_held_lines() {
        let resume = Checkpoint {
            units: 100,
            offset: 5_000,
            after_cap: false,
        };
        let mut held = HeldLines::new(Held::Fresh);
        assert_eq!(
            held.checkpoint(resume, (7, 900)),
            Checkpoint {
                units: 107,
                offset: 900,
                after_cap: false
            }
        );
        held.push((7, 900), 901, "java.lang.Error: x".into(), (8, 920));
        held.push((8, 920), 921, "\tat a.B.c(B.java:1)".into(), (9, 941));
        held.from = Held::AfterCap;
        assert_eq!(
            held.checkpoint(resume, (9, 941)),
            Checkpoint {
                units: 107,
                offset: 900,
                after_cap: true
            }
        );
    }
}
