//! Protobuf wire format: varints, field keys and length-delimited values.

use super::error::ProtoError;

/// One field value as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1 (little-endian 8 bytes).
    Fixed64(u64),
    /// Wire type 2.
    Len(&'a [u8]),
    /// Wire type 5 (little-endian 4 bytes).
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The protobuf wire type number.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Len(_) => 2,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// Sequential reader over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    context: &'a str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `context` names the message in error messages.
    pub(crate) fn new(buf: &'a [u8], context: &'a str) -> Self {
        Reader {
            buf,
            pos: 0,
            context,
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Reads one varint.
    pub(crate) fn varint(&mut self) -> Result<u64, ProtoError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                break;
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtoError::BadVarint {
            offset: start,
            context: self.context.to_string(),
        })
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], ProtoError> {
        let available = self.buf.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n <= available => {
                let s = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(s)
            }
            _ => Err(ProtoError::Truncated {
                offset: self.pos,
                needed: n,
                available,
                context: self.context.to_string(),
            }),
        }
    }

    /// Reads the next field, or `None` at the end of the buffer.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let offset = self.pos;
        let key = self.varint()?;
        let tag = key >> 3;
        let bad_key = || ProtoError::BadKey {
            key,
            offset,
            context: self.context.to_string(),
        };
        if tag == 0 || tag > u64::from(u32::MAX >> 3) {
            return Err(bad_key());
        }
        let value = match key & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                WireValue::Fixed64(u64::from_le_bytes(b.try_into().unwrap_or_default()))
            }
            2 => {
                let n = self.varint()?;
                WireValue::Len(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                WireValue::Fixed32(u32::from_le_bytes(b.try_into().unwrap_or_default()))
            }
            _ => return Err(bad_key()),
        };
        Ok(Some((tag as u32, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_varints_and_fields() {
        // field 1 varint 300, field 2 "hi", field 3 fixed32 1, field 4 fixed64 2
        let buf = [
            0x08, 0xac, 0x02, 0x12, 2, b'h', b'i', 0x1d, 1, 0, 0, 0, 0x21, 2, 0, 0, 0, 0, 0, 0, 0,
        ];
        let mut r = Reader::new(&buf, "test");
        assert_eq!(r.next_field().unwrap(), Some((1, WireValue::Varint(300))));
        assert_eq!(r.next_field().unwrap(), Some((2, WireValue::Len(b"hi"))));
        assert_eq!(r.next_field().unwrap(), Some((3, WireValue::Fixed32(1))));
        assert_eq!(r.next_field().unwrap(), Some((4, WireValue::Fixed64(2))));
        assert_eq!(r.next_field().unwrap(), None);
    }

    #[test]
    fn negative_int32_is_ten_bytes() {
        let buf = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&buf, "t").varint().unwrap() as i64, -1);
    }

    #[test]
    fn truncated_varint_reports_offset() {
        let buf = [0x08, 0x80];
        let err = Reader::new(&buf, "Thing").next_field().unwrap_err();
        assert_eq!(
            err,
            ProtoError::BadVarint {
                offset: 1,
                context: "Thing".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "truncated or overlong varint at offset 1 in Thing"
        );
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let buf = [0x80; 11];
        assert!(matches!(
            Reader::new(&buf, "t").varint(),
            Err(ProtoError::BadVarint { offset: 0, .. })
        ));
    }

    #[test]
    fn truncated_length_and_bad_keys() {
        let err = Reader::new(&[0x12, 5, b'a'], "M").next_field().unwrap_err();
        assert!(
            matches!(
                err,
                ProtoError::Truncated {
                    offset: 2,
                    needed: 5,
                    available: 1,
                    ..
                }
            ),
            "{err}"
        );
        let err = Reader::new(&[0x0b], "M").next_field().unwrap_err(); // wire type 3 (group)
        assert!(matches!(err, ProtoError::BadKey { key: 11, .. }), "{err}");
        let err = Reader::new(&[0x00, 0], "M").next_field().unwrap_err(); // field 0
        assert!(matches!(err, ProtoError::BadKey { key: 0, .. }), "{err}");
    }
}
