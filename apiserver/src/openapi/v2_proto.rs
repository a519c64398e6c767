//! The swagger 2.0 JSON document turned into gnostic's `openapi.v2.Document` protobuf,
//! as upstream's kube-openapi does (`ToProtoBinary`: gnostic `ParseDocument` of the JSON,
//! then `proto.Marshal`).
//!
//! The mapping is gnostic's: maps become repeated `Named*` pairs in document order,
//! `x-*` keys become `vendor_extension` entries, `type` a `TypeItem`, `items` an
//! `ItemsItem`, `additionalProperties` a schema-or-boolean oneof, a parameter a body or
//! query/path/header/formData parameter by its `in` (or a `JsonReference` when it is a
//! `$ref`), and every free-form value (`default`, `enum` members, `example`, extensions)
//! an `Any` holding the value's YAML text. That text is the value's JSON, which is YAML
//! too: readers (kubectl's yaml.v2, kube-openapi) parse it back to the same value, and
//! strings stay quoted, so YAML 1.1 readers never take `on` or `yes` for booleans.
//! Upstream's gnostic writes block-style YAML instead; the parsed values are the same.
//!
//! Anything gnostic would reject or this module does not map is collected in
//! [`Converted::unconverted`] rather than silently dropped (a unit test keeps it empty
//! for the served document).

use super::gnostic::*;
use serde_json::{Map, Value};

/// The protobuf bytes and what could not be converted (`<where>: <key>`).
pub(crate) struct Converted {
    pub bytes: Vec<u8>,
    pub unconverted: Vec<String>,
}

/// Converts a swagger 2.0 document (JSON value) to gnostic protobuf bytes.
pub(crate) fn to_protobuf(swagger: &Value) -> Converted {
    use prost::Message;
    let mut c = Converter::default();
    let doc = c.document(swagger);
    Converted { bytes: doc.encode_to_vec(), unconverted: c.unconverted }
}

/// Converts a swagger 2.0 document to the gnostic message (for tests and [`to_protobuf`]).
#[cfg(test)]
pub(crate) fn to_message(swagger: &Value) -> (Document, Vec<String>) {
    let mut c = Converter::default();
    let doc = c.document(swagger);
    (doc, c.unconverted)
}

/// An `Any` holding `value` as YAML text (see the module docs for the format).
fn any(value: &Value) -> Any {
    let mut yaml = value.to_string();
    yaml.push('\n');
    Any { yaml }
}

fn named_any(name: &str, value: &Value) -> NamedAny {
    NamedAny { name: name.to_string(), value: Some(any(value)) }
}

fn is_extension(key: &str) -> bool {
    key.starts_with("x-")
}

#[derive(Default)]
struct Converter {
    unconverted: Vec<String>,
}

impl Converter {
    fn miss(&mut self, at: &str, key: &str) {
        self.unconverted.push(format!("{at}: {key}"));
    }

    fn object<'v>(&mut self, v: &'v Value, at: &str, key: &str) -> Option<&'v Map<String, Value>> {
        let o = v.as_object();
        if o.is_none() {
            self.miss(at, key);
        }
        o
    }

    fn string(&mut self, v: &Value, at: &str, key: &str) -> String {
        match v.as_str() {
            Some(s) => s.to_string(),
            None => {
                self.miss(at, key);
                String::new()
            }
        }
    }

    fn boolean(&mut self, v: &Value, at: &str, key: &str) -> bool {
        v.as_bool().unwrap_or_else(|| {
            self.miss(at, key);
            false
        })
    }

    fn float(&mut self, v: &Value, at: &str, key: &str) -> f64 {
        v.as_f64().unwrap_or_else(|| {
            self.miss(at, key);
            0.0
        })
    }

    fn int(&mut self, v: &Value, at: &str, key: &str) -> i64 {
        v.as_i64().unwrap_or_else(|| {
            self.miss(at, key);
            0
        })
    }

    fn strings(&mut self, v: &Value, at: &str, key: &str) -> Vec<String> {
        match v.as_array() {
            Some(items) => items.iter().map(|s| self.string(s, at, key)).collect(),
            None => {
                self.miss(at, key);
                Vec::new()
            }
        }
    }

    fn anys(&mut self, v: &Value, at: &str, key: &str) -> Vec<Any> {
        match v.as_array() {
            Some(items) => items.iter().map(any).collect(),
            None => {
                self.miss(at, key);
                Vec::new()
            }
        }
    }

    fn document(&mut self, v: &Value) -> Document {
        let mut d = Document::default();
        let Some(obj) = self.object(v, "document", "(not an object)") else { return d };
        let at = "document";
        for (k, v) in obj {
            match k.as_str() {
                "swagger" => d.swagger = self.string(v, at, k),
                "info" => d.info = Some(self.info(v)),
                "host" => d.host = self.string(v, at, k),
                "basePath" => d.base_path = self.string(v, at, k),
                "schemes" => d.schemes = self.strings(v, at, k),
                "consumes" => d.consumes = self.strings(v, at, k),
                "produces" => d.produces = self.strings(v, at, k),
                "paths" => d.paths = Some(self.paths(v)),
                "definitions" => {
                    let defs = self.named_schemas(v, None);
                    d.definitions = Some(Definitions { additional_properties: defs });
                }
                "parameters" => {
                    let mut params = Vec::new();
                    for (name, p) in self.object(v, at, k).into_iter().flatten() {
                        let at = format!("parameters/{name}");
                        params.push(NamedParameter { name: name.clone(), value: self.parameter(p, &at) });
                    }
                    d.parameters = Some(ParameterDefinitions { additional_properties: params });
                }
                "responses" => {
                    let mut responses = Vec::new();
                    for (name, r) in self.object(v, at, k).into_iter().flatten() {
                        let at = format!("responses/{name}");
                        responses.push(NamedResponse { name: name.clone(), value: Some(self.response(r, &at)) });
                    }
                    d.responses = Some(ResponseDefinitions { additional_properties: responses });
                }
                "security" => d.security = self.security(v, at),
                "securityDefinitions" => d.security_definitions = Some(self.security_definitions(v)),
                "tags" => {
                    for t in v.as_array().into_iter().flatten() {
                        d.tags.push(self.tag(t));
                    }
                }
                "externalDocs" => d.external_docs = Some(self.external_docs(v, at)),
                k if is_extension(k) => d.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        d
    }

    fn info(&mut self, v: &Value) -> Info {
        let mut info = Info::default();
        let at = "info";
        for (k, v) in self.object(v, at, "(not an object)").into_iter().flatten() {
            match k.as_str() {
                "title" => info.title = self.string(v, at, k),
                "version" => info.version = self.string(v, at, k),
                "description" => info.description = self.string(v, at, k),
                "termsOfService" => info.terms_of_service = self.string(v, at, k),
                "contact" => {
                    let mut c = Contact::default();
                    for (k, v) in self.object(v, at, k).into_iter().flatten() {
                        match k.as_str() {
                            "name" => c.name = self.string(v, at, k),
                            "url" => c.url = self.string(v, at, k),
                            "email" => c.email = self.string(v, at, k),
                            k if is_extension(k) => c.vendor_extension.push(named_any(k, v)),
                            _ => self.miss(at, k),
                        }
                    }
                    info.contact = Some(c);
                }
                "license" => {
                    let mut l = License::default();
                    for (k, v) in self.object(v, at, k).into_iter().flatten() {
                        match k.as_str() {
                            "name" => l.name = self.string(v, at, k),
                            "url" => l.url = self.string(v, at, k),
                            k if is_extension(k) => l.vendor_extension.push(named_any(k, v)),
                            _ => self.miss(at, k),
                        }
                    }
                    info.license = Some(l);
                }
                k if is_extension(k) => info.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        info
    }

    fn external_docs(&mut self, v: &Value, at: &str) -> ExternalDocs {
        let mut e = ExternalDocs::default();
        for (k, v) in self.object(v, at, "externalDocs").into_iter().flatten() {
            match k.as_str() {
                "description" => e.description = self.string(v, at, k),
                "url" => e.url = self.string(v, at, k),
                k if is_extension(k) => e.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        e
    }

    fn tag(&mut self, v: &Value) -> Tag {
        let mut t = Tag::default();
        let at = "tags";
        for (k, v) in self.object(v, at, "(not an object)").into_iter().flatten() {
            match k.as_str() {
                "name" => t.name = self.string(v, at, k),
                "description" => t.description = self.string(v, at, k),
                "externalDocs" => t.external_docs = Some(self.external_docs(v, at)),
                k if is_extension(k) => t.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        t
    }

    fn security(&mut self, v: &Value, at: &str) -> Vec<SecurityRequirement> {
        let mut out = Vec::new();
        for req in v.as_array().into_iter().flatten() {
            let mut r = SecurityRequirement::default();
            for (name, scopes) in self.object(req, at, "security").into_iter().flatten() {
                let value = Some(StringArray { value: self.strings(scopes, at, name) });
                r.additional_properties.push(NamedStringArray { name: name.clone(), value });
            }
            out.push(r);
        }
        out
    }

    fn security_definitions(&mut self, v: &Value) -> SecurityDefinitions {
        use security_definitions_item::Oneof;
        let mut defs = SecurityDefinitions::default();
        for (name, def) in self.object(v, "securityDefinitions", "(not an object)").into_iter().flatten() {
            let at = format!("securityDefinitions/{name}");
            let Some(obj) = self.object(def, &at, "(not an object)") else { continue };
            let item = match obj.get("type").and_then(Value::as_str) {
                Some("apiKey") => {
                    let mut s = ApiKeySecurity::default();
                    for (k, v) in obj {
                        match k.as_str() {
                            "type" => s.r#type = self.string(v, &at, k),
                            "name" => s.name = self.string(v, &at, k),
                            "in" => s.r#in = self.string(v, &at, k),
                            "description" => s.description = self.string(v, &at, k),
                            k if is_extension(k) => s.vendor_extension.push(named_any(k, v)),
                            _ => self.miss(&at, k),
                        }
                    }
                    Oneof::ApiKeySecurity(s)
                }
                Some("basic") => {
                    let mut s = BasicAuthenticationSecurity::default();
                    for (k, v) in obj {
                        match k.as_str() {
                            "type" => s.r#type = self.string(v, &at, k),
                            "description" => s.description = self.string(v, &at, k),
                            k if is_extension(k) => s.vendor_extension.push(named_any(k, v)),
                            _ => self.miss(&at, k),
                        }
                    }
                    Oneof::BasicAuthenticationSecurity(s)
                }
                _ => {
                    self.miss(&at, "type (only apiKey and basic are converted)");
                    continue;
                }
            };
            let value = Some(SecurityDefinitionsItem { oneof: Some(item) });
            defs.additional_properties.push(NamedSecurityDefinitionsItem { name: name.clone(), value });
        }
        defs
    }

    fn paths(&mut self, v: &Value) -> Paths {
        let mut paths = Paths::default();
        for (k, v) in self.object(v, "paths", "(not an object)").into_iter().flatten() {
            if is_extension(k) {
                paths.vendor_extension.push(named_any(k, v));
            } else if k.starts_with('/') {
                let value = Some(self.path_item(v, k));
                paths.path.push(NamedPathItem { name: k.clone(), value });
            } else {
                self.miss("paths", k);
            }
        }
        paths
    }

    fn path_item(&mut self, v: &Value, at: &str) -> PathItem {
        let mut item = PathItem::default();
        for (k, v) in self.object(v, at, "(not an object)").into_iter().flatten() {
            let slot = match k.as_str() {
                "$ref" => {
                    item.r#ref = self.string(v, at, k);
                    continue;
                }
                "parameters" => {
                    item.parameters = self.parameters_items(v, at);
                    continue;
                }
                k if is_extension(k) => {
                    item.vendor_extension.push(named_any(k, v));
                    continue;
                }
                "get" => &mut item.get,
                "put" => &mut item.put,
                "post" => &mut item.post,
                "delete" => &mut item.delete,
                "options" => &mut item.options,
                "head" => &mut item.head,
                "patch" => &mut item.patch,
                _ => {
                    self.miss(at, k);
                    continue;
                }
            };
            *slot = Some(self.operation(v, &format!("{at} {k}")));
        }
        item
    }

    fn operation(&mut self, v: &Value, at: &str) -> Operation {
        let mut op = Operation::default();
        for (k, v) in self.object(v, at, "(not an object)").into_iter().flatten() {
            match k.as_str() {
                "tags" => op.tags = self.strings(v, at, k),
                "summary" => op.summary = self.string(v, at, k),
                "description" => op.description = self.string(v, at, k),
                "externalDocs" => op.external_docs = Some(self.external_docs(v, at)),
                "operationId" => op.operation_id = self.string(v, at, k),
                "produces" => op.produces = self.strings(v, at, k),
                "consumes" => op.consumes = self.strings(v, at, k),
                "parameters" => op.parameters = self.parameters_items(v, at),
                "responses" => op.responses = Some(self.responses(v, at)),
                "schemes" => op.schemes = self.strings(v, at, k),
                "deprecated" => op.deprecated = self.boolean(v, at, k),
                "security" => op.security = self.security(v, at),
                k if is_extension(k) => op.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        op
    }

    fn parameters_items(&mut self, v: &Value, at: &str) -> Vec<ParametersItem> {
        use parameters_item::Oneof;
        let Some(list) = v.as_array() else {
            self.miss(at, "parameters");
            return Vec::new();
        };
        list.iter()
            .map(|p| {
                let oneof = match p.get("$ref") {
                    Some(_) => self.json_reference(p, at).map(Oneof::JsonReference),
                    None => self.parameter(p, at).map(Oneof::Parameter),
                };
                ParametersItem { oneof }
            })
            .collect()
    }

    fn json_reference(&mut self, v: &Value, at: &str) -> Option<JsonReference> {
        let mut r = JsonReference::default();
        for (k, v) in self.object(v, at, "$ref")? {
            match k.as_str() {
                "$ref" => r.r#ref = self.string(v, at, k),
                "description" => r.description = self.string(v, at, k),
                _ => self.miss(at, k),
            }
        }
        Some(r)
    }

    /// A parameter by its `in`: `body`, or one of the non-body kinds.
    fn parameter(&mut self, v: &Value, at: &str) -> Option<Parameter> {
        use non_body_parameter::Oneof as NonBody;
        use parameter::Oneof;
        let obj = self.object(v, at, "parameter")?;
        let oneof = match obj.get("in").and_then(Value::as_str) {
            Some("body") => Oneof::BodyParameter(self.body_parameter(obj, at)),
            Some("query") => Oneof::NonBodyParameter(NonBodyParameter {
                oneof: Some(NonBody::QueryParameterSubSchema(self.query_or_form_parameter(obj, at))),
            }),
            Some("formData") => Oneof::NonBodyParameter(NonBodyParameter {
                oneof: Some(NonBody::FormDataParameterSubSchema(self.query_or_form_parameter(obj, at))),
            }),
            Some("path") => Oneof::NonBodyParameter(NonBodyParameter {
                oneof: Some(NonBody::PathParameterSubSchema(self.header_or_path_parameter(obj, at))),
            }),
            Some("header") => Oneof::NonBodyParameter(NonBodyParameter {
                oneof: Some(NonBody::HeaderParameterSubSchema(self.header_or_path_parameter(obj, at))),
            }),
            _ => {
                self.miss(at, "parameter without a known `in`");
                return None;
            }
        };
        Some(Parameter { oneof: Some(oneof) })
    }

    fn body_parameter(&mut self, obj: &Map<String, Value>, at: &str) -> BodyParameter {
        let mut p = BodyParameter::default();
        for (k, v) in obj {
            match k.as_str() {
                "description" => p.description = self.string(v, at, k),
                "name" => p.name = self.string(v, at, k),
                "in" => p.r#in = self.string(v, at, k),
                "required" => p.required = self.boolean(v, at, k),
                "schema" => p.schema = Some(self.schema(v, at)),
                k if is_extension(k) => p.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        p
    }

    fn query_or_form_parameter(&mut self, obj: &Map<String, Value>, at: &str) -> QueryOrFormDataParameter {
        let mut p = QueryOrFormDataParameter::default();
        for (k, v) in obj {
            match k.as_str() {
                "required" => p.required = self.boolean(v, at, k),
                "in" => p.r#in = self.string(v, at, k),
                "description" => p.description = self.string(v, at, k),
                "name" => p.name = self.string(v, at, k),
                "allowEmptyValue" => p.allow_empty_value = self.boolean(v, at, k),
                "type" => p.r#type = self.string(v, at, k),
                "format" => p.format = self.string(v, at, k),
                "items" => p.items = Some(self.primitives_items(v, at)),
                "collectionFormat" => p.collection_format = self.string(v, at, k),
                "default" => p.default = Some(any(v)),
                "maximum" => p.maximum = self.float(v, at, k),
                "exclusiveMaximum" => p.exclusive_maximum = self.boolean(v, at, k),
                "minimum" => p.minimum = self.float(v, at, k),
                "exclusiveMinimum" => p.exclusive_minimum = self.boolean(v, at, k),
                "maxLength" => p.max_length = self.int(v, at, k),
                "minLength" => p.min_length = self.int(v, at, k),
                "pattern" => p.pattern = self.string(v, at, k),
                "maxItems" => p.max_items = self.int(v, at, k),
                "minItems" => p.min_items = self.int(v, at, k),
                "uniqueItems" => p.unique_items = self.boolean(v, at, k),
                "enum" => p.r#enum = self.anys(v, at, k),
                "multipleOf" => p.multiple_of = self.float(v, at, k),
                k if is_extension(k) => p.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        p
    }

    fn header_or_path_parameter(&mut self, obj: &Map<String, Value>, at: &str) -> HeaderOrPathParameter {
        let mut p = HeaderOrPathParameter::default();
        for (k, v) in obj {
            match k.as_str() {
                "required" => p.required = self.boolean(v, at, k),
                "in" => p.r#in = self.string(v, at, k),
                "description" => p.description = self.string(v, at, k),
                "name" => p.name = self.string(v, at, k),
                "type" => p.r#type = self.string(v, at, k),
                "format" => p.format = self.string(v, at, k),
                "items" => p.items = Some(self.primitives_items(v, at)),
                "collectionFormat" => p.collection_format = self.string(v, at, k),
                "default" => p.default = Some(any(v)),
                "maximum" => p.maximum = self.float(v, at, k),
                "exclusiveMaximum" => p.exclusive_maximum = self.boolean(v, at, k),
                "minimum" => p.minimum = self.float(v, at, k),
                "exclusiveMinimum" => p.exclusive_minimum = self.boolean(v, at, k),
                "maxLength" => p.max_length = self.int(v, at, k),
                "minLength" => p.min_length = self.int(v, at, k),
                "pattern" => p.pattern = self.string(v, at, k),
                "maxItems" => p.max_items = self.int(v, at, k),
                "minItems" => p.min_items = self.int(v, at, k),
                "uniqueItems" => p.unique_items = self.boolean(v, at, k),
                "enum" => p.r#enum = self.anys(v, at, k),
                "multipleOf" => p.multiple_of = self.float(v, at, k),
                k if is_extension(k) => p.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        p
    }

    fn primitives_items(&mut self, v: &Value, at: &str) -> PrimitivesItems {
        let mut p = PrimitivesItems::default();
        for (k, v) in self.object(v, at, "items").into_iter().flatten() {
            match k.as_str() {
                "type" => p.r#type = self.string(v, at, k),
                "format" => p.format = self.string(v, at, k),
                "items" => p.items = Some(Box::new(self.primitives_items(v, at))),
                "collectionFormat" => p.collection_format = self.string(v, at, k),
                "default" => p.default = Some(any(v)),
                "maximum" => p.maximum = self.float(v, at, k),
                "exclusiveMaximum" => p.exclusive_maximum = self.boolean(v, at, k),
                "minimum" => p.minimum = self.float(v, at, k),
                "exclusiveMinimum" => p.exclusive_minimum = self.boolean(v, at, k),
                "maxLength" => p.max_length = self.int(v, at, k),
                "minLength" => p.min_length = self.int(v, at, k),
                "pattern" => p.pattern = self.string(v, at, k),
                "maxItems" => p.max_items = self.int(v, at, k),
                "minItems" => p.min_items = self.int(v, at, k),
                "uniqueItems" => p.unique_items = self.boolean(v, at, k),
                "enum" => p.r#enum = self.anys(v, at, k),
                "multipleOf" => p.multiple_of = self.float(v, at, k),
                k if is_extension(k) => p.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        p
    }

    fn responses(&mut self, v: &Value, at: &str) -> Responses {
        use response_value::Oneof;
        let mut out = Responses::default();
        for (code, r) in self.object(v, at, "responses").into_iter().flatten() {
            if is_extension(code) {
                out.vendor_extension.push(named_any(code, r));
                continue;
            }
            if !(code == "default" || (code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))) {
                self.miss(at, code);
                continue;
            }
            let oneof = match r.get("$ref") {
                Some(_) => self.json_reference(r, at).map(Oneof::JsonReference),
                None => Some(Oneof::Response(self.response(r, at))),
            };
            out.response_code.push(NamedResponseValue { name: code.clone(), value: Some(ResponseValue { oneof }) });
        }
        out
    }

    fn response(&mut self, v: &Value, at: &str) -> Response {
        let mut r = Response::default();
        for (k, v) in self.object(v, at, "response").into_iter().flatten() {
            match k.as_str() {
                "description" => r.description = self.string(v, at, k),
                "schema" => r.schema = Some(SchemaItem { schema: Some(self.schema(v, at)) }),
                k if is_extension(k) => r.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        r
    }

    /// `definitions` (`parent` None) or a schema's `properties` (`parent` names the schema).
    fn named_schemas(&mut self, v: &Value, parent: Option<&str>) -> Vec<NamedSchema> {
        let mut out = Vec::new();
        for (name, s) in self.object(v, parent.unwrap_or("definitions"), "(not an object)").into_iter().flatten() {
            let at = match parent {
                Some(parent) => format!("{parent}.{name}"),
                None => name.clone(),
            };
            out.push(NamedSchema { name: name.clone(), value: Some(self.schema(s, &at)) });
        }
        out
    }

    fn schema(&mut self, v: &Value, at: &str) -> Schema {
        use additional_properties_item::Oneof;
        let mut s = Schema::default();
        for (k, v) in self.object(v, at, "schema").into_iter().flatten() {
            match k.as_str() {
                "$ref" => s.r#ref = self.string(v, at, k),
                "format" => s.format = self.string(v, at, k),
                "title" => s.title = self.string(v, at, k),
                "description" => s.description = self.string(v, at, k),
                "default" => s.default = Some(any(v)),
                "multipleOf" => s.multiple_of = self.float(v, at, k),
                "maximum" => s.maximum = self.float(v, at, k),
                "exclusiveMaximum" => s.exclusive_maximum = self.boolean(v, at, k),
                "minimum" => s.minimum = self.float(v, at, k),
                "exclusiveMinimum" => s.exclusive_minimum = self.boolean(v, at, k),
                "maxLength" => s.max_length = self.int(v, at, k),
                "minLength" => s.min_length = self.int(v, at, k),
                "pattern" => s.pattern = self.string(v, at, k),
                "maxItems" => s.max_items = self.int(v, at, k),
                "minItems" => s.min_items = self.int(v, at, k),
                "uniqueItems" => s.unique_items = self.boolean(v, at, k),
                "maxProperties" => s.max_properties = self.int(v, at, k),
                "minProperties" => s.min_properties = self.int(v, at, k),
                "required" => s.required = self.strings(v, at, k),
                "enum" => s.r#enum = self.anys(v, at, k),
                "additionalProperties" => {
                    let oneof = match v {
                        Value::Bool(b) => Oneof::Boolean(*b),
                        v => Oneof::Schema(self.schema(v, at)),
                    };
                    s.additional_properties = Some(Box::new(AdditionalPropertiesItem { oneof: Some(oneof) }));
                }
                "type" => {
                    let value = match v {
                        Value::String(t) => vec![t.clone()],
                        v => self.strings(v, at, k),
                    };
                    s.r#type = Some(TypeItem { value });
                }
                // gnostic reads `items` as one schema only (an array of schemas is an error).
                "items" => s.items = Some(ItemsItem { schema: vec![self.schema(v, at)] }),
                "allOf" => {
                    for item in v.as_array().into_iter().flatten() {
                        let item = self.schema(item, at);
                        s.all_of.push(item);
                    }
                }
                "properties" => {
                    let props = self.named_schemas(v, Some(at));
                    s.properties = Some(Properties { additional_properties: props });
                }
                "discriminator" => s.discriminator = self.string(v, at, k),
                "readOnly" => s.read_only = self.boolean(v, at, k),
                "externalDocs" => s.external_docs = Some(self.external_docs(v, at)),
                "example" => s.example = Some(any(v)),
                k if is_extension(k) => s.vendor_extension.push(named_any(k, v)),
                _ => self.miss(at, k),
            }
        }
        s
    }
}
