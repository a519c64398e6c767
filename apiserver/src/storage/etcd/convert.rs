//! Translation between etcd's answers and the storage types: key/values, key ranges and
//! errors.

use crate::storage::{KeyValue, MAX_VALUE_BYTES, StorageError};
use bytes::Bytes;

/// A stored etcd key/value as ours. Keys are written by us and always UTF-8.
pub(super) fn key_value(kv: &etcd_client::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    }
}

/// The first key after every key that starts with `prefix` (etcd's `range_end` for a
/// prefix): the prefix with its last byte below 0xff incremented; `\0` (to the end of the
/// keyspace) when there is none.
pub(super) fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// What an etcd error means for a caller, as far as the message tells.
#[derive(Debug, PartialEq)]
pub(super) enum Refusal {
    /// `mvcc: required revision has been compacted`.
    Compacted,
    /// `mvcc: required revision is a future revision`.
    FutureRevision,
    /// `etcdserver: request is too large` (the server's `--max-request-bytes`).
    TooLarge,
    /// The request never reached a member (its connection was refused): safe to retry.
    Undelivered,
    /// A member or the connection failed while answering, or the cluster has no leader
    /// right now: safe to retry a read, not a write (it may have been applied).
    Unavailable,
    /// Anything else: unreachable members, no leader, timeouts.
    Other,
}

/// Classifies an etcd error. etcd reports these conditions only in the gRPC status
/// message (its own Go client matches the same strings in `rpctypes`).
pub(super) fn refusal(error: &etcd_client::Error) -> Refusal {
    let etcd_client::Error::GRpcStatus(status) = error else {
        return match error {
            etcd_client::Error::TransportError(_) => Refusal::Undelivered,
            _ => Refusal::Other,
        };
    };
    let message = status.message();
    // The connection error hides in the source chain (tonic -> hyper -> io).
    let cause = format!("{:?}", std::error::Error::source(status));
    if cause.contains("ConnectError") || cause.contains("Connection refused") {
        Refusal::Undelivered
    } else if status.code() as i32 == tonic_code::UNAVAILABLE || message.contains("transport error") || message.contains("leader changed") {
        Refusal::Unavailable
    } else if message.contains("required revision has been compacted") {
        Refusal::Compacted
    } else if message.contains("required revision is a future revision") {
        Refusal::FutureRevision
    } else if message.contains("request is too large") {
        Refusal::TooLarge
    } else {
        Refusal::Other
    }
}

/// gRPC status codes used above (tonic is not a direct dependency).
mod tonic_code {
    pub const UNAVAILABLE: i32 = 14;
}

/// An etcd failure nobody asked a question about, as a backend error that names etcd.
pub(super) fn backend(error: etcd_client::Error) -> StorageError {
    if refusal(&error) == Refusal::TooLarge {
        return StorageError::Backend(format!(
            "etcd refused the request as too large: objects up to {MAX_VALUE_BYTES} bytes need etcd started with \
             --max-request-bytes of at least {} ({error})",
            MAX_VALUE_BYTES + 64 * 1024
        ));
    }
    StorageError::Backend(format!("etcd: {}", with_causes(&error)))
}

/// The error and the causes under it that its message leaves out (a failed TLS
/// handshake shows only as "transport error" without them).
pub(super) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let line = c.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_first_key_after_the_prefix() {
        assert_eq!(prefix_end("/registry/pods/"), b"/registry/pods0".to_vec());
        assert_eq!(prefix_end("a"), b"b".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }
}
