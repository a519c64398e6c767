//! Messages whose upstream JSON is not an object of their fields: times, durations,
//! quantities, int-or-string, embedded raw JSON, string-list wrappers (`ExtraValue`,
//! `Verbs`) and the apiextensions schema unions.

use serde_json::Value;

use super::error::ProtoError;
use super::render::{MAX_DEPTH, render_message};
use super::table;
use super::wire::{Reader, WireValue};

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.";
const APIEXT_V1: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.";
const APIEXT_V1BETA1: &str = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.";

/// Renders `buf` as the special message `definition`, if it is one.
///
/// Returns `Ok(None)` when `definition` is an ordinary message, `Ok(Some(None))` when it
/// is special and renders to nothing (a zero Time, an empty RawExtension), which the
/// caller omits, and `Ok(Some(Some(v)))` otherwise.
pub(crate) fn render_special(
    definition: &'static str,
    buf: &[u8],
    depth: usize,
) -> Result<Option<Option<Value>>, ProtoError> {
    let local = definition.rsplit('.').next().unwrap_or_default();
    let rendered = match definition {
        d if d.starts_with(META) && local == "Time" => time(d, buf, false)?,
        d if d.starts_with(META) && local == "MicroTime" => time(d, buf, true)?,
        d if d.starts_with(META) && local == "Duration" => {
            let ns = scalars(d, buf)?.varint(1).map_or(0, |v| v as i64);
            Some(Value::String(go_duration(ns)))
        }
        d if d.starts_with(META) && local == "FieldsV1" => embedded_json(d, "Raw", buf, depth)?,
        "io.k8s.apimachinery.pkg.runtime.RawExtension" => {
            embedded_json(definition, "raw", buf, depth)?
        }
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => {
            let s = scalars(definition, buf)?.string(1, definition, "string")?;
            Some(Value::String(if s.is_empty() { "0".into() } else { s }))
        }
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => {
            let f = scalars(definition, buf)?;
            if f.varint(1) == Some(1) {
                Some(Value::String(f.string(3, definition, "strVal")?))
            } else {
                Some(Value::from(f.varint(2).unwrap_or(0) as i32))
            }
        }
        // Go string-slice types that protobuf wraps in a message with `items = 1`.
        d if local == "ExtraValue" || d == "io.k8s.apimachinery.pkg.apis.meta.v1.Verbs" => {
            let items = scalars(d, buf)?
                .all_bytes(1)
                .iter()
                .map(|b| utf8(b, d, "items").map(Value::String))
                .collect::<Result<_, _>>()?;
            Some(Value::Array(items))
        }
        d if is_apiext(d) && local == "JSON" => embedded_json(d, "raw", buf, depth)?,
        d if is_apiext(d) && local == "JSONSchemaPropsOrBool" => {
            let f = scalars(d, buf)?;
            match f.bytes(2) {
                Some(schema) => Some(schema_props(d, schema, depth)?),
                None => Some(Value::Bool(f.varint(1).unwrap_or(0) != 0)),
            }
        }
        d if is_apiext(d) && local == "JSONSchemaPropsOrArray" => {
            let f = scalars(d, buf)?;
            let many = f.all_bytes(2);
            if !many.is_empty() {
                let items = many
                    .iter()
                    .map(|b| schema_props(d, b, depth))
                    .collect::<Result<_, _>>()?;
                Some(Value::Array(items))
            } else {
                f.bytes(1).map(|b| schema_props(d, b, depth)).transpose()?
            }
        }
        d if is_apiext(d) && local == "JSONSchemaPropsOrStringArray" => {
            let f = scalars(d, buf)?;
            let strings = f.all_bytes(2);
            if !strings.is_empty() {
                let items = strings
                    .iter()
                    .map(|b| utf8(b, d, "property").map(Value::String))
                    .collect::<Result<_, _>>()?;
                Some(Value::Array(items))
            } else {
                f.bytes(1).map(|b| schema_props(d, b, depth)).transpose()?
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(rendered))
}

fn is_apiext(definition: &str) -> bool {
    definition.starts_with(APIEXT_V1) || definition.starts_with(APIEXT_V1BETA1)
}

/// Renders a `JSONSchemaProps` of the same package as the union `union`.
fn schema_props(union: &'static str, buf: &[u8], depth: usize) -> Result<Value, ProtoError> {
    let name = if union.starts_with(APIEXT_V1BETA1) {
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1beta1.JSONSchemaProps"
    } else {
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"
    };
    let def = table::message(name).ok_or_else(|| ProtoError::UnknownKind {
        kind: "JSONSchemaProps".into(),
        api_version: "apiextensions.k8s.io".into(),
    })?;
    Ok(render_message(def, buf, depth + 1)?.unwrap_or(Value::Null))
}

/// The last value of each field of a small message, by tag.
struct Scalars<'a> {
    fields: Vec<(u32, WireValue<'a>)>,
}

fn scalars<'a>(context: &'static str, buf: &'a [u8]) -> Result<Scalars<'a>, ProtoError> {
    let mut reader = Reader::new(buf, context);
    let mut fields = Vec::new();
    while let Some(f) = reader.next_field()? {
        fields.push(f);
    }
    Ok(Scalars { fields })
}

impl<'a> Scalars<'a> {
    fn last(&self, tag: u32) -> Option<WireValue<'a>> {
        self.fields
            .iter()
            .rev()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| *v)
    }

    fn varint(&self, tag: u32) -> Option<u64> {
        match self.last(tag) {
            Some(WireValue::Varint(v)) => Some(v),
            _ => None,
        }
    }

    fn bytes(&self, tag: u32) -> Option<&'a [u8]> {
        match self.last(tag) {
            Some(WireValue::Len(b)) => Some(b),
            _ => None,
        }
    }

    fn all_bytes(&self, tag: u32) -> Vec<&'a [u8]> {
        self.fields
            .iter()
            .filter_map(|(t, v)| match v {
                WireValue::Len(b) if *t == tag => Some(*b),
                _ => None,
            })
            .collect()
    }

    fn string(
        &self,
        tag: u32,
        context: &'static str,
        field: &'static str,
    ) -> Result<String, ProtoError> {
        self.bytes(tag)
            .map_or(Ok(String::new()), |b| utf8(b, context, field))
    }
}

fn utf8(b: &[u8], context: &str, field: &'static str) -> Result<String, ProtoError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtoError::BadUtf8 {
        field,
        context: context.to_string(),
    })
}

/// `meta.v1.Time` (RFC 3339, whole seconds) or `MicroTime` (six fractional digits).
/// The zero time renders to nothing: Go writes `null`, which upstream treats as unset.
fn time(context: &'static str, buf: &[u8], micro: bool) -> Result<Option<Value>, ProtoError> {
    let f = scalars(context, buf)?;
    let seconds = f.varint(1).unwrap_or(0) as i64;
    let nanos = f.varint(2).unwrap_or(0) as i32;
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    let bad = || ProtoError::BadTime {
        seconds,
        nanos,
        context: context.to_string(),
    };
    let ts = jiff::Timestamp::new(seconds, if micro { nanos } else { 0 }).map_err(|_| bad())?;
    let text = if micro {
        format!(
            "{}.{:06}Z",
            ts.strftime("%Y-%m-%dT%H:%M:%S"),
            ts.subsec_nanosecond() / 1000
        )
    } else {
        ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    };
    Ok(Some(Value::String(text)))
}

/// A message whose field 1 holds raw JSON (or a nested `k8s\0` protobuf object).
fn embedded_json(
    context: &'static str,
    field: &'static str,
    buf: &[u8],
    depth: usize,
) -> Result<Option<Value>, ProtoError> {
    let f = scalars(context, buf)?;
    let raw = match f.bytes(1) {
        Some(raw) if !raw.is_empty() => raw,
        _ => return Ok(None),
    };
    if super::is_protobuf(raw) {
        if depth >= MAX_DEPTH {
            return Err(ProtoError::TooDeep(MAX_DEPTH));
        }
        return super::decode_nested(raw, depth + 1).map(Some);
    }
    serde_json::from_slice(raw)
        .map(Some)
        .map_err(|e| ProtoError::BadEmbeddedJson {
            field,
            context: context.to_string(),
            message: e.to_string(),
        })
}

/// Go's `time.Duration.String()` for a nanosecond count: `1h2m3.5s`, `150ms`, `0s`.
pub(crate) fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000_000_000 {
        let (unit, div) = match u {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(u, div));
    }
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = sign.to_string();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&fraction(
        s * 1_000_000_000 + u % 1_000_000_000,
        1_000_000_000,
    ));
    out.push('s');
    out
}

/// `v / div` with the remainder as trimmed decimal digits (`div` a power of ten).
fn fraction(v: u64, div: u64) -> String {
    let (whole, rest) = (v / div, v % div);
    if rest == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_match_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (150_000_000, "150ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
            (-2_000_000_000, "-2s"),
        ];
        for (ns, want) in cases {
            assert_eq!(go_duration(ns), want, "{ns}");
        }
    }
}
