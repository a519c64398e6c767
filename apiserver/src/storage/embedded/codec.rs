//! Byte layout of the rows of the embedded store.
//!
//! Log row (`revision -> bytes`):
//! `[kind u8][create_revision i64 LE][prev_revision i64 LE][key_len u32 LE][key][value]`
//! where `kind` is 1 for a put and 2 for a tombstone (no value), and `prev_revision` is the
//! mod revision of the version of the same key this row replaces (0 when the key did not
//! exist just before, i.e. for every create).
//!
//! Index row (`key -> bytes`): `[mod_revision i64 LE][create_revision i64 LE]`. The value
//! is read from the log row at `mod_revision`, so every value is written once. (Layout
//! version 1 appended the value here too; [`decode_v1_index`] reads such rows to migrate.)

use crate::storage::KeyValue;
use bytes::Bytes;

const PUT: u8 = 1;
const TOMBSTONE: u8 = 2;
const LOG_HEADER: usize = 1 + 8 + 8 + 4;
const INDEX_ROW: usize = 8 + 8;


/// A row that does not decode: the file was written by something else or is damaged.
#[derive(Debug, thiserror::Error)]
#[error("corrupt {table} row: {reason}")]
pub(super) struct CorruptRow {
    table: &'static str,
    reason: &'static str,
}

/// One decoded revision-log row, borrowing from the stored bytes.
#[derive(Debug, PartialEq)]
pub(super) struct LogRow<'a> {
    /// The key the change is about.
    pub key: &'a str,
    /// The new value, `None` for a deletion.
    pub value: Option<&'a [u8]>,
    /// Revision at which the key was created.
    pub create_revision: i64,
    /// Mod revision of the replaced version of this key; 0 if the key did not exist.
    pub prev_revision: i64,
}

impl LogRow<'_> {
    /// Encodes the row.
    pub fn encode(&self) -> Vec<u8> {
        let value = self.value.unwrap_or_default();
        let mut out = Vec::with_capacity(LOG_HEADER + self.key.len() + value.len());
        out.push(if self.value.is_some() { PUT } else { TOMBSTONE });
        out.extend_from_slice(&self.create_revision.to_le_bytes());
        out.extend_from_slice(&self.prev_revision.to_le_bytes());
        out.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(value);
        out
    }

    /// The value this row stores as a [`KeyValue`] at `revision` (`None` for a tombstone).
    pub fn to_key_value(&self, revision: i64) -> Option<KeyValue> {
        self.value.map(|value| KeyValue {
            key: self.key.to_string(),
            value: Bytes::copy_from_slice(value),
            create_revision: self.create_revision,
            mod_revision: revision,
        })
    }
}

fn corrupt(table: &'static str, reason: &'static str) -> CorruptRow {
    CorruptRow { table, reason }
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[at..at + 8]);
    i64::from_le_bytes(buf)
}

/// Decodes a log row.
pub(super) fn decode_log(bytes: &[u8]) -> Result<LogRow<'_>, CorruptRow> {
    if bytes.len() < LOG_HEADER {
        return Err(corrupt("log", "shorter than its header"));
    }
    let kind = bytes[0];
    let create_revision = read_i64(bytes, 1);
    let prev_revision = read_i64(bytes, 9);
    let mut len = [0u8; 4];
    len.copy_from_slice(&bytes[17..21]);
    let key_end = LOG_HEADER
        .checked_add(u32::from_le_bytes(len) as usize)
        .filter(|end| *end <= bytes.len())
        .ok_or_else(|| corrupt("log", "key length past the end"))?;
    let key = std::str::from_utf8(&bytes[LOG_HEADER..key_end]).map_err(|_| corrupt("log", "key is not UTF-8"))?;
    let rest = &bytes[key_end..];
    let value = match kind {
        PUT => Some(rest),
        TOMBSTONE if rest.is_empty() => None,
        TOMBSTONE => return Err(corrupt("log", "tombstone with a value")),
        _ => return Err(corrupt("log", "unknown row kind")),
    };
    Ok(LogRow { key, value, create_revision, prev_revision })
}

/// Where the current version of a key is: one index row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct IndexRow {
    /// Revision of the log row holding the current value.
    pub mod_revision: i64,
    /// Revision at which the key was created.
    pub create_revision: i64,
}

impl IndexRow {
    /// Encodes the row.
    pub fn encode(&self) -> [u8; INDEX_ROW] {
        let mut out = [0u8; INDEX_ROW];
        out[..8].copy_from_slice(&self.mod_revision.to_le_bytes());
        out[8..].copy_from_slice(&self.create_revision.to_le_bytes());
        out
    }
}

/// Decodes an index row.
pub(super) fn decode_index(bytes: &[u8]) -> Result<IndexRow, CorruptRow> {
    if bytes.len() != INDEX_ROW {
        return Err(corrupt("index", "not 16 bytes long"));
    }
    Ok(IndexRow { mod_revision: read_i64(bytes, 0), create_revision: read_i64(bytes, 8) })
}

/// The revisions of a layout-version-1 index row (whose value is also in the log).
pub(super) fn decode_v1_index(bytes: &[u8]) -> Result<IndexRow, CorruptRow> {
    if bytes.len() < INDEX_ROW {
        return Err(corrupt("index", "shorter than its header"));
    }
    Ok(IndexRow { mod_revision: read_i64(bytes, 0), create_revision: read_i64(bytes, 8) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_rows_round_trip() {
        let put = LogRow { key: "/registry/pods/a", value: Some(b"{}"), create_revision: 3, prev_revision: 7 };
        assert_eq!(decode_log(&put.encode()).unwrap(), put);
        let tombstone = LogRow { key: "/k", value: None, create_revision: 2, prev_revision: 5 };
        assert_eq!(decode_log(&tombstone.encode()).unwrap(), tombstone);
        let empty_value = LogRow { key: "/k", value: Some(b""), create_revision: 2, prev_revision: 0 };
        assert_eq!(decode_log(&empty_value.encode()).unwrap(), empty_value);
    }

    #[test]
    fn damaged_log_rows_are_rejected() {
        let row = LogRow { key: "/key", value: Some(b"v"), create_revision: 1, prev_revision: 0 }.encode();
        assert!(decode_log(&row[..10]).is_err());
        let mut bad_len = row.clone();
        bad_len[17] = 200;
        assert!(decode_log(&bad_len).is_err());
        let mut bad_kind = row;
        bad_kind[0] = 9;
        assert!(decode_log(&bad_kind).is_err());
    }

    #[test]
    fn index_rows_round_trip() {
        let row = IndexRow { mod_revision: 9, create_revision: 4 };
        assert_eq!(decode_index(&row.encode()).unwrap(), row);
        assert!(decode_index(&row.encode()[..15]).is_err());
        // A version-1 row carried the value after the same two revisions.
        let v1 = [&row.encode()[..], b"value"].concat();
        assert!(decode_index(&v1).is_err());
        assert_eq!(decode_v1_index(&v1).unwrap(), row);
    }
}
