//! Object metadata rules shared by every kind (upstream
//! `apimachinery/pkg/api/validation/objectmeta.go`): the name format per kind, labels and
//! annotations, `generateName`. The format checks themselves live in
//! `strategies::names` and `strategies::labels`.

use super::strategies::{labels, names};
use super::strategy::{Cause, NameRule};
use serde_json::Value;

/// Problems with `name` under `rule`.
pub fn check_name(rule: NameRule, name: &str) -> Vec<String> {
    match rule {
        NameRule::DnsSubdomain => names::dns1123_subdomain(name),
        NameRule::DnsLabel => names::dns1123_label(name),
        NameRule::Dns1035Label => names::dns1035_label(name),
        NameRule::PathSegment => names::path_segment(name),
    }
}

/// The current time as upstream renders `metav1.Time` (RFC 3339, seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The object's `metadata` map, created empty if missing.
pub fn metadata_mut(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(serde_json::Map::new());
    }
    obj["metadata"].as_object_mut().expect("metadata is an object")
}

/// Validates labels and annotations of `metadata` (at `path`, e.g. `metadata`).
pub fn validate_labels_annotations(metadata: &Value, path: &str, causes: &mut Vec<Cause>) {
    labels::validate_labels(metadata.get("labels"), &format!("{path}.labels"), causes);
    if let Some(annotations) = metadata.get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (k, v) in annotations {
            total += k.len() + v.as_str().map_or(0, str::len);
            for e in names::qualified_name(&k.to_ascii_lowercase()) {
                causes.push(Cause::invalid(format!("{path}.annotations"), &Value::String(k.clone()), e));
            }
        }
        if total > 256 * 1024 {
            causes.push(Cause {
                reason: "FieldValueTooLong",
                message: format!("Too long: may not be more than {} bytes", 256 * 1024),
                field: format!("{path}.annotations"),
            });
        }
    }
}

/// A `generateName` suffix: 5 characters from upstream's alphabet (no vowels, no
/// look-alikes), as in `apiserver/pkg/storage/names`.
pub fn generate_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Name for `generateName`: the prefix cut to leave room for the suffix (max 63 in total
/// like upstream's `maxGeneratedNameLength`).
pub fn generate_name(prefix: &str) -> String {
    let keep = prefix.len().min(58);
    format!("{}{}", &prefix[..keep], generate_suffix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(check_name(NameRule::DnsSubdomain, "web.example-1").is_empty());
        assert!(!check_name(NameRule::DnsSubdomain, "Bad_Name").is_empty());
        assert!(!check_name(NameRule::DnsLabel, "a.b").is_empty());
        assert!(!check_name(NameRule::Dns1035Label, "1abc").is_empty());
        assert!(check_name(NameRule::PathSegment, "system:admin").is_empty());
    }

    #[test]
    fn generated_names() {
        let n = generate_name("web-");
        assert!(n.starts_with("web-") && n.len() == 9);
    }
}
