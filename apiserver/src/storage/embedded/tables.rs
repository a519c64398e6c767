//! The tables of `state.redb` and the names of its metadata entries.

use redb::TableDefinition;

/// The revision log: revision -> encoded [`LogRow`](super::codec::LogRow). Append-only
/// except for compaction, which removes superseded rows.
pub(super) const LOG: TableDefinition<i64, &[u8]> = TableDefinition::new("log");

/// The latest-value index: key -> encoded index row (mod revision, create revision, value).
/// Holds exactly the live keys; reads of the current state use it alone.
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

/// The layout this code writes and reads.
pub(super) const FORMAT_VERSION: i64 = 1;

/// The revision of an empty store (the first write gets revision 2, as in memory).
pub(super) const INITIAL_REVISION: i64 = 1;
