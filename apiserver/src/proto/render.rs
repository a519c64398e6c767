//! Renders a protobuf message as upstream's JSON for the same object.
//!
//! Omission rule (Go's protobuf encoder writes every non-pointer field, Go's JSON
//! encoder honours `omitempty`): a scalar that decodes to its zero value (`""`, `0`,
//! `false`, empty bytes) is dropped unless the field's `keep_zero` flag is set, which
//! the generator sets when the Go field is a pointer (an explicit zero such as
//! `replicas: 0` or `automountServiceAccountToken: false`) or has no `omitempty`
//! (e.g. `containerPort`, a container's `name`). Nested messages are always kept,
//! even empty: Go's JSON never omits a struct, and a non-nil pointer struct such as
//! `emptyDir: {}` is meaningful; the one exception is a zero non-pointer IntOrString
//! (`targetPort` left unset), dropped like a zero scalar. Repeated and map fields are absent from the wire when
//! empty, so they never appear empty. Special messages (see [`super::special`]) may
//! render to nothing, e.g. the zero `metadata.creationTimestamp` kubectl sends.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::error::ProtoError;
use super::special::render_special;
use super::table::{self, FieldDef, Kind, MapValue, MessageDef};
use super::wire::{Reader, WireValue};

const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";

/// Deepest message nesting accepted (upstream objects nest far less).
pub(crate) const MAX_DEPTH: usize = 64;

/// Renders `buf` as message `def`; `None` means the value is omitted (see module docs).
pub(crate) fn render_message(
    def: &'static MessageDef,
    buf: &[u8],
    depth: usize,
) -> Result<Option<Value>, ProtoError> {
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep(MAX_DEPTH));
    }
    if let Some(special) = render_special(def.name, buf, depth)? {
        return Ok(special);
    }
    let mut out = Map::new();
    let mut reader = Reader::new(buf, def.name);
    while let Some((tag, value)) = reader.next_field()? {
        // Unknown fields are skipped, as upstream's decoder does.
        let Some(field) = def.field(tag) else {
            continue;
        };
        match field.kind {
            Kind::Map(map_value) => {
                let (key, val) = map_entry(def, field, map_value, value, depth)?;
                let entry = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(m), Some(val)) = (entry, val) {
                    m.insert(key, val);
                }
            }
            Kind::Message(target) => {
                let bytes = expect_len(def, field, value)?;
                let target = nested(target)?;
                let Some(rendered) = render_message(target, bytes, depth + 1)? else {
                    continue;
                };
                // A non-pointer IntOrString (e.g. a Service port's targetPort) is always on
                // the wire; its zero means unset, like an omitted scalar.
                if target.name == INT_OR_STRING && !field.keep_zero && is_zero(&rendered) {
                    continue;
                }
                if field.inline {
                    if let Value::Object(inner) = rendered {
                        out.extend(inner);
                    }
                } else if field.repeated {
                    push(&mut out, field.json, rendered);
                } else {
                    out.insert(field.json.to_string(), rendered);
                }
            }
            _ if field.repeated => {
                for v in repeated_scalars(def, field, value)? {
                    push(&mut out, field.json, v);
                }
            }
            _ => {
                let v = scalar(def, field, value)?;
                if is_zero(&v) && !field.keep_zero {
                    out.remove(field.json);
                } else {
                    out.insert(field.json.to_string(), v);
                }
            }
        }
    }
    Ok(Some(Value::Object(out)))
}

fn nested(definition: &'static str) -> Result<&'static MessageDef, ProtoError> {
    table::message(definition).ok_or_else(|| ProtoError::UnknownKind {
        kind: definition
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string(),
        api_version: definition.to_string(),
    })
}

fn push(out: &mut Map<String, Value>, key: &str, v: Value) {
    if let Value::Array(items) = out.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
        items.push(v);
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        _ => false,
    }
}

fn mismatch(
    def: &MessageDef,
    field: &FieldDef,
    value: WireValue<'_>,
    expected: &'static str,
) -> ProtoError {
    ProtoError::WireTypeMismatch {
        field: if field.json.is_empty() {
            field.rust
        } else {
            field.json
        },
        tag: field.tag,
        wire_type: value.wire_type(),
        expected,
        context: def.name.to_string(),
    }
}

fn expect_len<'a>(
    def: &MessageDef,
    field: &FieldDef,
    value: WireValue<'a>,
) -> Result<&'a [u8], ProtoError> {
    match value {
        WireValue::Len(b) => Ok(b),
        other => Err(mismatch(def, field, other, "length-delimited (2)")),
    }
}

/// Decodes one non-message value of `field`'s kind.
fn scalar(def: &MessageDef, field: &FieldDef, value: WireValue<'_>) -> Result<Value, ProtoError> {
    let v = match (field.kind, value) {
        (Kind::String, WireValue::Len(b)) => Value::String(String::from_utf8(b.to_vec()).map_err(
            |_| ProtoError::BadUtf8 {
                field: field.json,
                context: def.name.to_string(),
            },
        )?),
        (Kind::Bytes, WireValue::Len(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (Kind::Int32, WireValue::Varint(v)) => Value::from(v as i32),
        (Kind::Int64, WireValue::Varint(v)) => Value::from(v as i64),
        (Kind::Bool, WireValue::Varint(v)) => Value::Bool(v != 0),
        (Kind::Double, WireValue::Fixed64(v)) => float(f64::from_bits(v)),
        (kind, other) => {
            let expected = match kind {
                Kind::String | Kind::Bytes | Kind::Message(_) | Kind::Map(_) => {
                    "length-delimited (2)"
                }
                Kind::Double => "fixed64 (1)",
                _ => "varint (0)",
            };
            return Err(mismatch(def, field, other, expected));
        }
    };
    Ok(v)
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Values of a repeated scalar field: one value, or a packed run of them.
fn repeated_scalars(
    def: &MessageDef,
    field: &FieldDef,
    value: WireValue<'_>,
) -> Result<Vec<Value>, ProtoError> {
    let packable = !matches!(field.kind, Kind::String | Kind::Bytes);
    let WireValue::Len(bytes) = value else {
        return Ok(vec![scalar(def, field, value)?]);
    };
    if !packable {
        return Ok(vec![scalar(def, field, value)?]);
    }
    let mut reader = Reader::new(bytes, def.name);
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let v = match field.kind {
            Kind::Double => {
                let chunk = bytes
                    .get(offset..offset + 8)
                    .ok_or_else(|| ProtoError::Truncated {
                        offset,
                        needed: 8,
                        available: bytes.len() - offset,
                        context: def.name.to_string(),
                    })?;
                offset += 8;
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                scalar(def, field, WireValue::Fixed64(u64::from_le_bytes(b)))?
            }
            _ => {
                let v = reader.varint()?;
                offset = reader.position();
                scalar(def, field, WireValue::Varint(v))?
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// One `map<string, V>` entry: a nested message with key = 1 and value = 2.
fn map_entry(
    def: &MessageDef,
    field: &FieldDef,
    map_value: MapValue,
    value: WireValue<'_>,
    depth: usize,
) -> Result<(String, Option<Value>), ProtoError> {
    let bytes = expect_len(def, field, value)?;
    let mut reader = Reader::new(bytes, def.name);
    let (mut key, mut val) = (String::new(), None);
    while let Some((tag, v)) = reader.next_field()? {
        match tag {
            1 => {
                let k = expect_len(def, field, v)?;
                key = String::from_utf8(k.to_vec()).map_err(|_| ProtoError::BadUtf8 {
                    field: field.json,
                    context: def.name.to_string(),
                })?;
            }
            2 => {
                let b = expect_len(def, field, v)?;
                val = match map_value {
                    MapValue::String => Some(Value::String(
                        String::from_utf8(b.to_vec()).map_err(|_| ProtoError::BadUtf8 {
                            field: field.json,
                            context: def.name.to_string(),
                        })?,
                    )),
                    MapValue::Bytes => Some(Value::String(
                        base64::engine::general_purpose::STANDARD.encode(b),
                    )),
                    MapValue::Message(target) => render_message(nested(target)?, b, depth + 1)?,
                };
            }
            _ => {}
        }
    }
    // A missing value is the value type's zero.
    let val = val.or(match map_value {
        MapValue::String | MapValue::Bytes => Some(Value::String(String::new())),
        MapValue::Message(target) => render_message(nested(target)?, &[], depth + 1)?,
    });
    Ok((key, val))
}
