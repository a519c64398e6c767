//! The write-ahead log: what makes a batch durable, in one sequential write and one fsync.
//!
//! A durable redb commit writes every dirty B-tree page where it lives (tens of scattered
//! writes) and then syncs. etcd avoids paying that per batch by appending each batch to a
//! WAL and committing its B-tree (bbolt) only now and then; this does the same. The writer
//! appends each batch's log rows here and syncs this file before acknowledging anyone; the
//! redb commit of the batch is non-durable, and every so often a durable redb commit (a
//! checkpoint) makes the WAL's content redundant, so it starts over from offset 0.
//!
//! File `<dir>/state.wal`: records `[payload_len u32 LE][crc32 of payload u32 LE][payload]`,
//! payload `[count u32 LE]` then per row `[revision i64 LE][row_len u32 LE][log row]` (the
//! row exactly as the log table stores it). Records of one generation (since the last
//! checkpoint) start at offset 0 with strictly consecutive revisions; whatever follows
//! them (zeros, a torn record, records of older generations, whose revisions are all
//! lower) ends the replay. The file is pre-filled with zeros so that appends overwrite
//! allocated blocks and the sync has no file-size metadata to write.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Name of the WAL file inside the data directory.
pub const FILE_NAME: &str = "state.wal";

/// The file grows (with zeros) by at least this much at a time.
const GROW: u64 = 8 << 20;

const RECORD_HEADER: usize = 4 + 4;

/// One batch's rows, encoded as they are applied.
#[derive(Default)]
pub(super) struct Batch {
    payload: Vec<u8>,
    count: u32,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        let mut payload = Vec::with_capacity(64 * 1024);
        payload.extend_from_slice(&[0u8; RECORD_HEADER + 4]);
        Self { payload, count: 0 }
    }

    /// Adds the log row written at `revision`.
    pub fn push(&mut self, revision: i64, row: &[u8]) {
        self.payload.extend_from_slice(&revision.to_le_bytes());
        self.payload.extend_from_slice(&(row.len() as u32).to_le_bytes());
        self.payload.extend_from_slice(row);
        self.count += 1;
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The record bytes: header, count, rows.
    fn seal(&mut self) -> &[u8] {
        let body = RECORD_HEADER;
        self.payload[body..body + 4].copy_from_slice(&self.count.to_le_bytes());
        let len = (self.payload.len() - body) as u32;
        let crc = crc32fast::hash(&self.payload[body..]);
        self.payload[..4].copy_from_slice(&len.to_le_bytes());
        self.payload[4..8].copy_from_slice(&crc.to_le_bytes());
        &self.payload
    }
}

/// A row read back from the WAL.
#[derive(Debug, PartialEq)]
pub(super) struct Replayed {
    pub revision: i64,
    pub row: Vec<u8>,
}

/// The open WAL.
pub(super) struct Wal {
    file: File,
    /// Where the next record goes.
    end: u64,
    /// Bytes of the file already allocated (written).
    allocated: u64,
}

impl Wal {
    /// Opens (creating if needed) `<dir>/state.wal` and returns it with the rows that come
    /// after `durable` (the revision the redb file holds durably), in order. The caller
    /// applies them durably and then calls [`Wal::restart`].
    pub fn open(dir: &Path, durable: i64) -> std::io::Result<(Self, Vec<Replayed>)> {
        let path = dir.join(FILE_NAME);
        let existed = path.exists();
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        if !existed {
            // Make the new directory entry durable too.
            File::open(dir)?.sync_all()?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let rows = replay(&bytes, durable);
        let allocated = bytes.len() as u64;
        Ok((Self { file, end: 0, allocated }, rows))
    }

    /// Appends the batch and waits until it is on disk.
    pub fn append(&mut self, batch: &mut Batch) -> std::io::Result<()> {
        let record = batch.seal();
        let needed = self.end + record.len() as u64;
        if needed > self.allocated {
            self.grow(needed)?;
        }
        self.file.write_all_at(record, self.end)?;
        self.file.sync_data()?;
        self.end = needed;
        Ok(())
    }

    /// Bytes appended since the last restart.
    pub fn len(&self) -> u64 {
        self.end
    }

    /// Starts a new generation at offset 0: call only once everything appended so far is
    /// durable elsewhere (a durable redb commit). Nothing is written: the next record
    /// overwrites the oldest, and older generations never replay (see the module doc).
    pub fn restart(&mut self) -> std::io::Result<()> {
        // First, so that the next record goes to offset 0 even if the shrink fails.
        self.end = 0;
        // A burst may have grown the file far: give the space back.
        if self.allocated > 4 * GROW {
            self.file.set_len(GROW)?;
            self.allocated = GROW;
            self.file.sync_all()?;
        }
        Ok(())
    }

    /// Extends the file with zeros to hold at least `needed` bytes.
    fn grow(&mut self, needed: u64) -> std::io::Result<()> {
        let target = needed.max(self.allocated + GROW).next_multiple_of(GROW);
        let zeros = vec![0u8; (target - self.allocated) as usize];
        self.file.write_all_at(&zeros, self.allocated)?;
        self.allocated = target;
        Ok(())
    }
}

/// The rows after `durable` from the newest generation at the start of `bytes`.
fn replay(bytes: &[u8], durable: i64) -> Vec<Replayed> {
    let mut rows = Vec::new();
    let mut at = 0usize;
    let mut expected: Option<i64> = None;
    while let Some(record) = read_record(bytes, &mut at) {
        let Some(decoded) = decode_payload(record) else { break };
        let (Some(first), Some(last)) = (decoded.first(), decoded.last()) else { break };
        let (first, last) = (first.revision, last.revision);
        match expected {
            // Already in the durable file (a checkpoint ran, the restart had not).
            None if last <= durable => continue,
            None if first == durable + 1 => {}
            Some(next) if first == next => {}
            _ => break,
        }
        expected = Some(last + 1);
        rows.extend(decoded);
    }
    rows
}

/// The next record's payload if its header and checksum hold.
fn read_record<'a>(bytes: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let header = bytes.get(*at..*at + RECORD_HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let start = *at + RECORD_HEADER;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    if len < 4 || crc32fast::hash(payload) != crc {
        return None;
    }
    *at = start + len;
    Some(payload)
}

/// The rows of a payload, consecutive revisions, or `None` if it does not hold together.
fn decode_payload(payload: &[u8]) -> Option<Vec<Replayed>> {
    let count = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?);
    let mut at = 4;
    let mut rows = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let revision = i64::from_le_bytes(payload.get(at..at + 8)?.try_into().ok()?);
        let len = u32::from_le_bytes(payload.get(at + 8..at + 12)?.try_into().ok()?) as usize;
        let row = payload.get(at + 12..(at + 12).checked_add(len)?)?.to_vec();
        if rows.last().is_some_and(|prev: &Replayed| prev.revision + 1 != revision) {
            return None;
        }
        rows.push(Replayed { revision, row });
        at += 12 + len;
    }
    (at == payload.len()).then_some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(revisions: std::ops::RangeInclusive<i64>) -> Batch {
        let mut batch = Batch::new();
        for revision in revisions {
            batch.push(revision, format!("row {revision}").as_bytes());
        }
        batch
    }

    fn revisions(rows: &[Replayed]) -> Vec<i64> {
        rows.iter().map(|r| r.revision).collect()
    }

    fn reopen(dir: &Path, durable: i64) -> Vec<i64> {
        revisions(&Wal::open(dir, durable).unwrap().1)
    }

    #[test]
    fn appended_rows_replay_after_the_durable_revision() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, rows) = Wal::open(dir.path(), 1).unwrap();
        assert!(rows.is_empty());
        wal.append(&mut batch(2..=4)).unwrap();
        wal.append(&mut batch(5..=5)).unwrap();
        assert_eq!(reopen(dir.path(), 1), [2, 3, 4, 5]);
        let rows = Wal::open(dir.path(), 1).unwrap().1;
        assert_eq!(rows[1].row, b"row 3");
        // A checkpoint at 4 ran but the process died before restarting the WAL.
        assert_eq!(reopen(dir.path(), 4), [5]);
        assert_eq!(reopen(dir.path(), 5), Vec::<i64>::new());
    }

    #[test]
    fn older_generations_and_torn_tails_never_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), 1).unwrap();
        for first in (2..200).step_by(10) {
            wal.append(&mut batch(first..=first + 9)).unwrap();
        }
        // Checkpoint at 201, new generation: one small record over the start of the old.
        wal.restart().unwrap();
        wal.append(&mut batch(202..=203)).unwrap();
        assert_eq!(reopen(dir.path(), 201), [202, 203]);
        // A torn append: half a record after the good one.
        let mut torn = batch(204..=250);
        let record = torn.seal().to_vec();
        wal.file.write_all_at(&record[..record.len() / 2], wal.end).unwrap();
        assert_eq!(reopen(dir.path(), 201), [202, 203]);
        // A damaged byte inside the first record stops the replay there.
        wal.file.write_all_at(&[0xff], 20).unwrap();
        assert_eq!(reopen(dir.path(), 201), Vec::<i64>::new());
    }

    #[test]
    fn a_gap_after_the_durable_revision_replays_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), 1).unwrap();
        wal.append(&mut batch(10..=12)).unwrap();
        assert_eq!(reopen(dir.path(), 5), Vec::<i64>::new());
    }

    #[test]
    fn the_file_grows_in_steps_and_shrinks_on_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), 1).unwrap();
        let mut big = Batch::new();
        big.push(2, &vec![7u8; (5 * GROW) as usize]);
        wal.append(&mut big).unwrap();
        assert!(wal.allocated >= 5 * GROW && wal.allocated % GROW == 0);
        assert_eq!(reopen(dir.path(), 1), [2]);
        wal.restart().unwrap();
        assert_eq!(std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len(), GROW);
    }
}
