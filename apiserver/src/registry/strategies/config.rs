//! ConfigMaps, Secrets, ServiceAccounts (`pkg/registry/core/{configmap,secret,serviceaccount}`).

use super::json::{len_of, s, set_default};
use super::names;
use crate::registry::strategy::{Cause, Strategy};
use crate::registry::table::{AGE, Column, age};
use base64::Engine;
use serde_json::{Value, json};

/// Upstream `core.MaxSecretSize`, also the ConfigMap limit.
const MAX_SIZE: usize = 1024 * 1024;

fn decoded_len(b64: &str) -> usize {
    let pad = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad)
}

fn validate_keys(obj: &Value, bag: &str, other: &str, causes: &mut Vec<Cause>) -> usize {
    let mut size = 0;
    let Some(map) = obj.get(bag).and_then(Value::as_object) else { return 0 };
    for (key, value) in map {
        let field = format!("{bag}[{key}]");
        for msg in names::config_key(key) {
            causes.push(Cause::invalid(&field, &json!(key), msg));
        }
        if !other.is_empty() && obj.get(other).and_then(|o| o.get(key)).is_some() {
            causes.push(Cause::invalid(&field, &json!(key), format!("duplicate of key present in {other}")));
        }
        let v = value.as_str().unwrap_or("");
        size += if bag == "data" && other == "binaryData" { v.len() } else { decoded_len(v) };
    }
    size
}

fn immutable_bags(obj: &Value, old: &Value, bags: &[&str], causes: &mut Vec<Cause>) {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    for bag in bags {
        if obj.get(*bag) != old.get(*bag) {
            causes.push(Cause::forbidden(*bag, "field is immutable when `immutable` is set"));
        }
    }
    if obj.get("immutable").and_then(Value::as_bool) != Some(true) {
        causes.push(Cause::forbidden("immutable", "field is immutable when `immutable` is set"));
    }
}

/// ConfigMap strategy.
pub struct ConfigMap;
/// The ConfigMap strategy instance.
pub static CONFIG_MAP: ConfigMap = ConfigMap;

static CONFIG_MAP_COLUMNS: [Column; 2] = [Column::new("Data", "string", "Data contains the configuration data."), AGE];

impl Strategy for ConfigMap {
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        let size = validate_keys(obj, "data", "binaryData", causes) + validate_keys(obj, "binaryData", "data", causes);
        if size > MAX_SIZE {
            causes.push(Cause::too_long("", MAX_SIZE));
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        immutable_bags(obj, old, &["data", "binaryData"], causes);
        self.validate(obj, causes);
    }
    fn columns(&self) -> &'static [Column] {
        &CONFIG_MAP_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(len_of(obj, "data") + len_of(obj, "binaryData")), age(obj)]
    }
}

/// Secret strategy.
pub struct Secret;
/// The Secret strategy instance.
pub static SECRET: Secret = Secret;

static SECRET_COLUMNS: [Column; 3] = [
    Column::new("Type", "string", "Used to facilitate programmatic handling of secret data."),
    Column::new("Data", "string", "Data contains the secret data."),
    AGE,
];

impl Strategy for Secret {
    fn default(&self, obj: &mut Value) {
        set_default(obj, "type", json!("Opaque"));
        // v1 conversion: stringData is write-only and merges into data
        let Some(string_data) = obj.as_object_mut().and_then(|m| m.remove("stringData")) else { return };
        let Some(entries) = string_data.as_object() else { return };
        if !obj.get("data").is_some_and(Value::is_object) {
            obj["data"] = json!({});
        }
        for (k, v) in entries {
            let encoded = base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or(""));
            obj["data"][k] = json!(encoded);
        }
    }
    fn validate(&self, obj: &Value, causes: &mut Vec<Cause>) {
        if validate_keys(obj, "data", "", causes) > MAX_SIZE {
            causes.push(Cause::too_long("data", MAX_SIZE));
        }
        let has = |k: &str| obj.get("data").and_then(|d| d.get(k)).is_some();
        let required = |k: &str| Cause::required(format!("data[{k}]"));
        match s(obj, "type") {
            "kubernetes.io/service-account-token"
                if obj.pointer("/metadata/annotations/kubernetes.io~1service-account.name").and_then(Value::as_str).is_none_or(str::is_empty) =>
            {
                causes.push(Cause::required("metadata.annotations[kubernetes.io/service-account.name]"));
            }
            "kubernetes.io/dockercfg" if !has(".dockercfg") => causes.push(required(".dockercfg")),
            "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => causes.push(required(".dockerconfigjson")),
            "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
                causes.push(required("username"));
                causes.push(required("password"));
            }
            "kubernetes.io/ssh-auth" if obj.pointer("/data/ssh-privatekey").and_then(Value::as_str).is_none_or(str::is_empty) => {
                causes.push(required("ssh-privatekey"))
            }
            "kubernetes.io/tls" => {
                for k in ["tls.crt", "tls.key"] {
                    if !has(k) {
                        causes.push(required(k));
                    }
                }
            }
            _ => {}
        }
    }
    fn validate_update(&self, obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
        if obj.get("type") != old.get("type") {
            causes.push(Cause::invalid("type", obj.get("type").unwrap_or(&Value::Null), "field is immutable"));
        }
        immutable_bags(obj, old, &["data"], causes);
        self.validate(obj, causes);
    }
    fn columns(&self) -> &'static [Column] {
        &SECRET_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(s(obj, "type")), json!(len_of(obj, "data")), age(obj)]
    }
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![("type", s(obj, "type").to_string())]
    }
}

/// ServiceAccount strategy.
pub struct ServiceAccount;
/// The ServiceAccount strategy instance.
pub static SERVICE_ACCOUNT: ServiceAccount = ServiceAccount;

static SERVICE_ACCOUNT_COLUMNS: [Column; 2] = [
    Column::new("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
    AGE,
];

impl Strategy for ServiceAccount {
    fn columns(&self) -> &'static [Column] {
        &SERVICE_ACCOUNT_COLUMNS
    }
    fn row(&self, obj: &Value) -> Vec<Value> {
        vec![json!(len_of(obj, "secrets")), age(obj)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_map_keys_and_size() {
        let mut causes = Vec::new();
        CONFIG_MAP.validate(&json!({"data": {"ok.key": "v", "bad/key": "v"}}), &mut causes);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "data[bad/key]");
        let mut causes = Vec::new();
        CONFIG_MAP.validate(&json!({"data": {"big": "x".repeat(MAX_SIZE + 1)}}), &mut causes);
        assert_eq!(causes, vec![Cause::too_long("", MAX_SIZE)]);
        assert_eq!(CONFIG_MAP.row(&json!({"data": {"a": "1"}, "binaryData": {"b": "AA=="}}))[0], 2);
    }

    #[test]
    fn secret_defaults_and_tls() {
        let mut secret = json!({"stringData": {"user": "admin"}});
        SECRET.default(&mut secret);
        assert_eq!(secret, json!({"type": "Opaque", "data": {"user": "YWRtaW4="}}));
        let mut causes = Vec::new();
        SECRET.validate(&json!({"type": "kubernetes.io/tls", "data": {"tls.crt": ""}}), &mut causes);
        assert_eq!(causes, vec![Cause::required("data[tls.key]")]);
        assert_eq!(SECRET.field_value(&secret, "type").as_deref(), Some("Opaque"));
    }
}
