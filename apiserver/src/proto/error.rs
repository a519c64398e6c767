//! Errors from decoding a protobuf request body.

/// Why a `application/vnd.kubernetes.protobuf` body could not be turned into JSON.
///
/// Every variant names what was wrong and where, so the HTTP layer can return the
/// message verbatim in a 400 BadRequest `Status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The body does not start with the 4-byte magic `k8s\0`.
    #[error("protobuf body does not start with the magic prefix \"k8s\\x00\"")]
    BadMagic,
    /// A varint ran past the end of its buffer or past 10 bytes.
    #[error("truncated or overlong varint at offset {offset} in {context}")]
    BadVarint {
        /// Byte offset of the varint within the buffer being read.
        offset: usize,
        /// The message (definition name or `envelope`) being read.
        context: String,
    },
    /// A length-delimited or fixed-width value ran past the end of its buffer.
    #[error(
        "truncated value at offset {offset} in {context}: need {needed} bytes, {available} left"
    )]
    Truncated {
        /// Byte offset where the value starts.
        offset: usize,
        /// Bytes the value claims.
        needed: u64,
        /// Bytes actually left.
        available: usize,
        /// The message being read.
        context: String,
    },
    /// A field key used field number 0 or a wire type that protobuf does not define.
    #[error("invalid field key {key} at offset {offset} in {context}")]
    BadKey {
        /// The raw key varint.
        key: u64,
        /// Byte offset of the key.
        offset: usize,
        /// The message being read.
        context: String,
    },
    /// A known field arrived with a wire type that does not fit its declared kind.
    #[error(
        "field {field} (tag {tag}) of {context} has wire type {wire_type}, expected {expected}"
    )]
    WireTypeMismatch {
        /// The field's JSON (or Rust) name.
        field: &'static str,
        /// The field number.
        tag: u32,
        /// The wire type found.
        wire_type: u8,
        /// What the field needs.
        expected: &'static str,
        /// The message being read.
        context: String,
    },
    /// A string field was not valid UTF-8.
    #[error("field {field} of {context} is not valid UTF-8")]
    BadUtf8 {
        /// The field's name.
        field: &'static str,
        /// The message being read.
        context: String,
    },
    /// The envelope carries no `typeMeta.kind`.
    #[error("protobuf envelope has no kind in typeMeta")]
    MissingKind,
    /// The envelope names a content encoding (e.g. gzip) this server does not read.
    #[error("unsupported protobuf contentEncoding {0:?}")]
    UnsupportedEncoding(String),
    /// apiVersion/kind do not name a known protobuf message.
    #[error("unknown kind {kind:?} in {api_version:?}")]
    UnknownKind {
        /// The envelope's kind.
        kind: String,
        /// The envelope's apiVersion.
        api_version: String,
    },
    /// An embedded JSON value (RawExtension, FieldsV1, apiextensions JSON) did not parse.
    #[error("field {field} of {context} holds invalid embedded JSON: {message}")]
    BadEmbeddedJson {
        /// The field's name.
        field: &'static str,
        /// The message being read.
        context: String,
        /// The JSON parser's message.
        message: String,
    },
    /// A Time/MicroTime is outside the representable range.
    #[error("timestamp {seconds}s {nanos}ns out of range in {context}")]
    BadTime {
        /// Seconds since the Unix epoch.
        seconds: i64,
        /// Nanoseconds.
        nanos: i32,
        /// The message being read.
        context: String,
    },
    /// Messages nested deeper than the decoder allows.
    #[error("protobuf messages nested deeper than {0} levels")]
    TooDeep(usize),
}
