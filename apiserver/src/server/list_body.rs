//! The body of a plain JSON list, streamed: items are spliced from their stored bytes
//! into chunks of [`CHUNK`] bytes as the connection takes them, instead of first building
//! the whole document (tens of MiB for 10,000 pods) and only then sending the first byte.
//! The client reads (and decrypts) while the server is still writing, memory stays
//! bounded, and no page-faulting giant buffer is allocated per request.
//!
//! The length is known before the first byte (every item's encoded size is), so the
//! response keeps an exact `Content-Length` like a buffered one; the bytes are the same.

use crate::error::ApiError;
use crate::registry::kinds::Kind;
use crate::registry::store::{ListPage, Listed};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Size of the chunks handed to the connection: a few TLS records, cache-friendly.
const CHUNK: usize = 64 * 1024;

/// One list item: still stored (spliced when its turn comes) or already encoded (items
/// decoded for a selector or a conversion).
enum Item {
    Stored(Listed),
    Encoded(Vec<u8>),
}

/// A JSON list document written chunk by chunk.
pub struct ListBody {
    head: Option<Vec<u8>>,
    items: VecDeque<Item>,
    first: bool,
    tail_sent: bool,
    remaining: u64,
}

impl ListBody {
    /// `{"kind":..,"apiVersion":..,"metadata":{..},"items":[` + items + `]}`, where
    /// `head` is the document up to and including `"items":[`.
    pub fn new(head: Vec<u8>, page: ListPage) -> Result<Self, ApiError> {
        let items = page.items.into_iter().map(|listed| match listed.list_item_len() {
            Some(len) => Ok((len, Item::Stored(listed))),
            None => {
                let mut encoded = Vec::new();
                listed.write_list_item(&mut encoded)?;
                Ok((encoded.len(), Item::Encoded(encoded)))
            }
        });
        Self::of_items(head, items)
    }

    /// A `PartialObjectMetadataList` (`meta.k8s.io/<meta_version>`) of the page's
    /// objects: each item's metadata is cut from its stored bytes up front (a small part
    /// of the object, so its length is known only once written).
    pub fn metadata_only(head: Vec<u8>, page: ListPage, kind: &Kind, meta_version: &str) -> Result<Self, ApiError> {
        let items = page.items.into_iter().map(|listed| {
            let mut encoded = Vec::new();
            listed.write_metadata_item(kind, meta_version, &mut encoded)?;
            Ok((encoded.len(), Item::Encoded(encoded)))
        });
        Self::of_items(head, items)
    }

    /// The document of `head`, the items (with their encoded lengths) and the tail.
    fn of_items(head: Vec<u8>, items: impl ExactSizeIterator<Item = Result<(usize, Item), ApiError>>) -> Result<Self, ApiError> {
        let mut total = head.len() + 2 + items.len().saturating_sub(1);
        let mut queue = VecDeque::with_capacity(items.len());
        for item in items {
            let (len, item) = item?;
            total += len;
            queue.push_back(item);
        }
        Ok(ListBody { head: Some(head), items: queue, first: true, tail_sent: false, remaining: total as u64 })
    }

    /// The next chunk of at least [`CHUNK`] bytes (less at the end), `None` when done.
    fn next_chunk(&mut self) -> Result<Option<Bytes>, ApiError> {
        if self.tail_sent {
            return Ok(None);
        }
        let mut out = self.head.take().unwrap_or_default();
        out.reserve(CHUNK + 4096);
        while out.len() < CHUNK {
            let Some(item) = self.items.pop_front() else {
                out.extend_from_slice(b"]}");
                self.tail_sent = true;
                break;
            };
            if !std::mem::take(&mut self.first) {
                out.push(b',');
            }
            match item {
                Item::Stored(listed) => listed.write_list_item(&mut out)?,
                Item::Encoded(bytes) => out.extend_from_slice(&bytes),
            }
        }
        self.remaining = self.remaining.saturating_sub(out.len() as u64);
        Ok(Some(Bytes::from(out)))
    }
}

impl hyper::body::Body for ListBody {
    type Data = Bytes;
    type Error = ApiError;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, ApiError>>> {
        Poll::Ready(self.next_chunk().transpose().map(|chunk| chunk.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.tail_sent
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::KeyValue;
    use std::sync::Arc;

    fn stored(name: &str, revision: i64, filler: usize) -> Listed {
        let value = format!(r#"{{"metadata":{{"name":"{name}"}},"data":{{"x":"{}"}}}}"#, "y".repeat(filler));
        Listed::Stored(Arc::new(KeyValue { key: format!("/registry/configmaps/ns/{name}"), value: value.into(), create_revision: 1, mod_revision: revision }))
    }

    fn drain(mut body: ListBody) -> (u64, Vec<u8>, usize) {
        let announced = hyper::body::Body::size_hint(&body).exact().unwrap();
        let (mut out, mut chunks) = (Vec::new(), 0);
        while let Some(chunk) = body.next_chunk().unwrap() {
            assert!(chunk.len() <= CHUNK + 4096 || chunks == 0, "a chunk of {} bytes", chunk.len());
            out.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert!(hyper::body::Body::is_end_stream(&body));
        assert_eq!(hyper::body::Body::size_hint(&body).exact(), Some(0));
        (announced, out, chunks)
    }

    #[test]
    fn streams_the_same_document_with_an_exact_length() {
        let object = Listed::Object(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "decoded", "resourceVersion": "7"}}));
        let mut items = vec![stored("a", 9, 10), object, Listed::Stored(Arc::new(KeyValue {
            key: "/registry/configmaps/ns/empty".into(),
            value: r#"{"metadata":{}}"#.into(),
            create_revision: 1,
            mod_revision: 1_000_000,
        }))];
        items.extend((0..3000).map(|i| stored(&format!("big-{i}"), i + 10, 100 + i as usize % 7)));
        let mut expected = b"{\"kind\":\"ConfigMapList\",\"items\":[".to_vec();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                expected.push(b',');
            }
            item.write_list_item(&mut expected).unwrap();
        }
        expected.extend_from_slice(b"]}");
        let page = ListPage { items, revision: 5, continue_token: None, remaining: None };
        let (announced, out, chunks) = drain(ListBody::new(b"{\"kind\":\"ConfigMapList\",\"items\":[".to_vec(), page).unwrap());
        assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(expected.clone()).unwrap());
        assert_eq!(announced, expected.len() as u64);
        assert!(chunks > 3, "{chunks} chunks");
        let doc: serde_json::Value = serde_json::from_slice(&expected).unwrap();
        assert_eq!(doc["items"][2]["metadata"], serde_json::json!({"resourceVersion": "1000000"}));
        assert!(doc["items"][2].get("apiVersion").is_none());
    }

    #[test]
    fn metadata_only_items_are_partial_object_metadata_cut_from_the_stored_bytes() {
        let kind = crate::registry::kinds::find("", "v1", "configmaps").unwrap();
        let decoded = Listed::Object(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "decoded", "resourceVersion": "7"}, "data": {}}));
        let mut items = vec![decoded];
        items.extend((0..2000).map(|i| stored(&format!("big-{i}"), i + 10, 100)));
        let page = ListPage { items, revision: 5, continue_token: None, remaining: None };
        let (announced, out, chunks) = drain(ListBody::metadata_only(b"{\"items\":[".to_vec(), page, kind, "v1").unwrap());
        assert_eq!(announced, out.len() as u64);
        assert!(chunks > 1, "{chunks} chunks");
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let partial = |name: &str, rv: &str| serde_json::json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": name, "resourceVersion": rv}});
        assert_eq!(doc["items"][0], partial("decoded", "7"));
        assert_eq!(doc["items"][2000], partial("big-1999", "2009"));
        assert_eq!(doc["items"].as_array().unwrap().len(), 2001);
    }

    #[test]
    fn an_empty_list_is_one_chunk() {
        let page = ListPage { items: Vec::new(), revision: 5, continue_token: None, remaining: None };
        let (announced, out, chunks) = drain(ListBody::new(b"{\"items\":[".to_vec(), page).unwrap());
        assert_eq!(out, b"{\"items\":[]}");
        assert_eq!((announced, chunks), (12, 1));
    }

    #[test]
    fn an_object_not_in_stored_form_fails_before_the_response_starts() {
        let bad = Listed::Stored(Arc::new(KeyValue { key: "/registry/x".into(), value: "{\"spec\":{}}".into(), create_revision: 1, mod_revision: 2 }));
        let page = ListPage { items: vec![bad], revision: 5, continue_token: None, remaining: None };
        assert!(ListBody::new(b"{\"items\":[".to_vec(), page).is_err());
    }
}
