//! The tables of `state.redb` and the names of its metadata entries.

use redb::TableDefinition;

/// The revision log: revision -> encoded [`LogRow`](super::codec::LogRow). Append-only
/// except for compaction, which removes superseded rows.
pub(super) const LOG: TableDefinition<i64, &[u8]> = TableDefinition::new("log");

/// The latest-version index: key -> encoded [`IndexRow`](super::codec::IndexRow) (mod
/// revision, create revision). Holds exactly the live keys; the value is the log row at
/// the mod revision.
pub(super) const INDEX: TableDefinition<&str, &[u8]> = TableDefinition::new("index");

/// Small named integers: [`REVISION`], [`COMPACTED`], [`FORMAT`].
pub(super) const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

/// Newest committed revision (persisted so revisions keep increasing across restarts, even
/// when compaction removed the newest log row).
pub(super) const REVISION: &str = "revision";

/// Revision the log was compacted at: reads and watches from older revisions fail.
pub(super) const COMPACTED: &str = "compacted";

/// Layout version of the rows.
pub(super) const FORMAT: &str = "format";

/// The layout this code writes and reads. Version 1 (values in the index too) is
/// migrated on open.
pub(super) const FORMAT_VERSION: i64 = 2;

/// The revision of an empty store (the first write gets revision 2, as in memory).
pub(super) const INITIAL_REVISION: i64 = 1;
