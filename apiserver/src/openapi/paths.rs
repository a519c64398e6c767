//! The API's paths and operations, grouped into the documents `/openapi/v3` serves
//! (`api`, `apis`, `apis/<group>`, `version`, and one per served group-version).

use super::definitions::{definition_of, list_definition_name, names};
use super::gvk::{group_camel, group_lower_camel, gv_camel, gv_key, gv_prefix, tag, Gvk};
use super::model::{ApiDoc, Body, Method, Operation, PathItem, Response};
use super::params::{self, Param};
use crate::registry::kinds::{Kind, Subresource, KINDS};

fn ok(code: &'static str, definition: &str) -> Response {
    let description = match code {
        "201" => "Created",
        "202" => "Accepted",
        _ => "OK",
    };
    Response { code, description, definition: Some(definition.to_string()) }
}

fn simple_get(id: &str, description: &str, tag: String, definition: &str) -> Operation {
    Operation {
        method: Method::Get,
        id: id.to_string(),
        description: description.to_string(),
        tag,
        action: None,
        gvk: None,
        params: Vec::new(),
        body: None,
        responses: vec![ok("200", definition)],
        streaming: false,
        json_only: false,
    }
}

fn single(path: String, op: Operation) -> PathItem {
    PathItem { path, params: Vec::new(), ops: vec![op] }
}

/// Every document, in index order: `api`, `api/v1`, `apis`, then per group `apis/<group>`
/// and its versions, then `version`.
pub(crate) fn documents() -> Vec<ApiDoc> {
    let mut docs = vec![ApiDoc {
        key: "api".into(),
        paths: vec![single(
            "/api/".into(),
            simple_get("getCoreAPIVersions", "get available API versions", "core".into(), names::API_VERSIONS),
        )],
    }];
    docs.push(ApiDoc {
        key: "apis".into(),
        paths: vec![single(
            "/apis/".into(),
            simple_get("getAPIVersions", "get available API versions", "apis".into(), names::API_GROUP_LIST),
        )],
    });
    let mut gvs: Vec<(&str, &str)> = Vec::new();
    for k in KINDS.iter() {
        if !gvs.contains(&(k.group, k.version)) {
            gvs.push((k.group, k.version));
        }
    }
    let mut groups: Vec<&str> = Vec::new();
    for (group, _) in &gvs {
        if !group.is_empty() && !groups.contains(group) {
            groups.push(group);
        }
    }
    for group in groups {
        docs.push(ApiDoc {
            key: format!("apis/{group}"),
            paths: vec![single(
                format!("/apis/{group}/"),
                simple_get(
                    &format!("get{}APIGroup", group_camel(group)),
                    "get information of a group",
                    group_lower_camel(group),
                    names::API_GROUP,
                ),
            )],
        });
    }
    for (group, version) in gvs {
        docs.push(group_version(group, version));
    }
    docs.push(ApiDoc {
        key: "version".into(),
        paths: vec![single(
            "/version/".into(),
            Operation {
                json_only: true,
                ..simple_get("getCodeVersion", "get the version information for this server", "version".into(), names::VERSION_INFO)
            },
        )],
    });
    docs
}

fn group_version(group: &str, version: &str) -> ApiDoc {
    let mut paths = vec![single(
        format!("{}/", gv_prefix(group, version)),
        simple_get(
            &format!("get{}APIResources", gv_camel(group, version)),
            "get available resources",
            tag(group, version),
            names::API_RESOURCE_LIST,
        ),
    )];
    for kind in KINDS.iter().filter(|k| k.group == group && k.version == version) {
        paths.extend(kind_paths(kind));
    }
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    ApiDoc { key: gv_key(group, version), paths }
}

/// Builds operations for one kind; shared naming state.
struct Ops<'a> {
    kind: &'a Kind,
    camel: String,
    scope: &'static str,
    tag: String,
    gvk: Gvk,
}

impl Ops<'_> {
    fn op(&self, method: Method, verb: &str, suffix: &str, action: &'static str, description: String) -> Operation {
        Operation {
            method,
            id: format!("{verb}{}{}{}{suffix}", self.camel, self.scope, self.kind.kind),
            description,
            tag: self.tag.clone(),
            action: Some(action),
            gvk: Some(self.gvk.clone()),
            params: Vec::new(),
            body: None,
            responses: Vec::new(),
            streaming: false,
            json_only: false,
        }
    }
}

fn object_body(definition: &str) -> Option<Body> {
    Some(Body { definition: definition.to_string(), patch: false, required: true })
}

fn patch_body() -> Option<Body> {
    Some(Body { definition: names::PATCH.to_string(), patch: true, required: true })
}

fn delete_body() -> Option<Body> {
    Some(Body { definition: names::DELETE_OPTIONS.to_string(), patch: false, required: false })
}

/// All paths of one kind: collection, object, all-namespaces, watch and subresources.
pub(crate) fn kind_paths(kind: &Kind) -> Vec<PathItem> {
    let o = Ops {
        kind,
        camel: gv_camel(kind.group, kind.version),
        scope: if kind.namespaced { "Namespaced" } else { "" },
        tag: tag(kind.group, kind.version),
        gvk: Gvk::new(kind.group, kind.version, kind.kind),
    };
    let k = kind.kind;
    let def = kind.definition.as_str();
    let list_def = list_definition_name(kind);
    let prefix = gv_prefix(kind.group, kind.version);
    let scoped = if kind.namespaced { format!("{prefix}/namespaces/{{namespace}}") } else { prefix.clone() };
    let scope_params = || if kind.namespaced { vec![params::namespace()] } else { Vec::new() };
    let mut out = Vec::new();

    // Collection.
    let mut collection = PathItem { path: format!("{scoped}/{}", kind.resource), params: scope_params(), ops: Vec::new() };
    collection.params.push(params::pretty());
    if kind.allows("list") {
        let mut op = o.op(Method::Get, "list", "", "list", format!("list or watch objects of kind {k}"));
        op.params = params::list();
        op.responses = vec![ok("200", &list_def)];
        op.streaming = true;
        collection.ops.push(op);
    }
    if kind.allows("create") {
        let mut op = o.op(Method::Post, "create", "", "post", format!("create a {k}"));
        op.params = params::write();
        op.body = object_body(def);
        op.responses = vec![ok("200", def), ok("201", def), ok("202", def)];
        collection.ops.push(op);
    }
    if kind.allows("deletecollection") {
        let mut op = o.op(Method::Delete, "delete", "", "deletecollection", format!("delete collection of {k}"));
        op.id = format!("delete{}Collection{}{k}", o.camel, o.scope);
        op.params = params::delete_collection();
        op.body = delete_body();
        op.responses = vec![ok("200", names::STATUS)];
        collection.ops.push(op);
    }
    if !collection.ops.is_empty() {
        out.push(collection);
    }

    // Object.
    let name_params = || {
        let mut p = vec![params::name(k)];
        p.extend(scope_params());
        p.push(params::pretty());
        p
    };
    let mut object = PathItem { path: format!("{scoped}/{}/{{name}}", kind.resource), params: name_params(), ops: Vec::new() };
    if kind.allows("get") {
        let mut op = o.op(Method::Get, "read", "", "get", format!("read the specified {k}"));
        op.responses = vec![ok("200", def)];
        object.ops.push(op);
    }
    if kind.allows("update") {
        let mut op = o.op(Method::Put, "replace", "", "put", format!("replace the specified {k}"));
        op.params = params::write();
        op.body = object_body(def);
        op.responses = vec![ok("200", def), ok("201", def)];
        object.ops.push(op);
    }
    if kind.allows("patch") {
        let mut op = o.op(Method::Patch, "patch", "", "patch", format!("partially update the specified {k}"));
        op.params = params::patch();
        op.body = patch_body();
        op.responses = vec![ok("200", def), ok("201", def)];
        object.ops.push(op);
    }
    if kind.allows("delete") {
        let mut op = o.op(Method::Delete, "delete", "", "delete", format!("delete a {k}"));
        op.params = params::delete();
        op.body = delete_body();
        op.responses = vec![ok("200", names::STATUS), ok("202", names::STATUS)];
        object.ops.push(op);
    }
    if !object.ops.is_empty() {
        out.push(object);
    }

    // All namespaces.
    let list_path_params = || {
        let mut p = params::list();
        p.push(params::pretty());
        p.sort_by_key(|p| p.name);
        p
    };
    if kind.namespaced && kind.allows("list") {
        let mut op = o.op(Method::Get, "list", "ForAllNamespaces", "list", format!("list or watch objects of kind {k}"));
        op.id = format!("list{}{k}ForAllNamespaces", o.camel);
        op.responses = vec![ok("200", &list_def)];
        op.streaming = true;
        out.push(PathItem { path: format!("{prefix}/{}", kind.resource), params: list_path_params(), ops: vec![op] });
    }

    // Deprecated watch paths, still served upstream.
    if kind.allows("watch") {
        let watch_scoped = if kind.namespaced { format!("{prefix}/watch/namespaces/{{namespace}}") } else { format!("{prefix}/watch") };
        let watch_op = |id: String, action: &'static str, description: String| {
            let mut op = o.op(Method::Get, "watch", "", action, description);
            op.id = id;
            op.responses = vec![ok("200", names::WATCH_EVENT)];
            op.streaming = true;
            op
        };
        let list_desc = format!(
            "watch individual changes to a list of {k}. deprecated: use the 'watch' parameter with a list operation instead."
        );
        let mut p = list_path_params();
        p.extend(scope_params());
        out.push(PathItem {
            path: format!("{watch_scoped}/{}", kind.resource),
            params: p,
            ops: vec![watch_op(format!("watch{}{}{k}List", o.camel, o.scope), "watchlist", list_desc.clone())],
        });
        let mut p = list_path_params();
        p.push(params::name(k));
        p.extend(scope_params());
        out.push(PathItem {
            path: format!("{watch_scoped}/{}/{{name}}", kind.resource),
            params: p,
            ops: vec![watch_op(
                format!("watch{}{}{k}", o.camel, o.scope),
                "watch",
                format!(
                    "watch changes to an object of kind {k}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."
                ),
            )],
        });
        if kind.namespaced {
            out.push(PathItem {
                path: format!("{prefix}/watch/{}", kind.resource),
                params: list_path_params(),
                ops: vec![watch_op(format!("watch{}{k}ListForAllNamespaces", o.camel), "watchlist", list_desc)],
            });
        }
    }

    for sub in &kind.subresources {
        if let Some(item) = subresource_path(&o, sub, format!("{scoped}/{}/{{name}}/{}", kind.resource, sub.name), name_params()) {
            out.push(item);
        }
    }
    out
}

fn subresource_path(o: &Ops<'_>, sub: &Subresource, path: String, path_params: Vec<Param>) -> Option<PathItem> {
    // Streaming and proxy subresources (log, exec, attach, portforward, proxy) are not
    // object operations; upstream documents them differently and kubectl does not read them.
    if sub.name == "log" || sub.kind.ends_with("Options") {
        return None;
    }
    let group = if sub.group.is_empty() { o.kind.group } else { sub.group };
    let version = if sub.version.is_empty() { o.kind.version } else { sub.version };
    let kind = if sub.kind.is_empty() { o.kind.kind } else { sub.kind };
    let def = definition_of(group, version, kind)?;
    let gvk = Gvk::new(group, version, kind);
    let k = o.kind.kind;
    let sub_camel = {
        let mut c = sub.name.chars();
        c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
    };
    let mut item = PathItem { path, params: path_params, ops: Vec::new() };
    let op = |method: Method, verb: &str, action: &'static str, description: String| {
        let mut op = o.op(method, verb, &sub_camel, action, description);
        op.gvk = Some(gvk.clone());
        op
    };
    let s = sub.name;
    for verb in sub.verbs {
        let operation = match *verb {
            "get" => {
                let mut x = op(Method::Get, "read", "get", format!("read {s} of the specified {k}"));
                x.responses = vec![ok("200", &def)];
                x
            }
            "update" => {
                let mut x = op(Method::Put, "replace", "put", format!("replace {s} of the specified {k}"));
                x.params = params::write();
                x.body = object_body(&def);
                x.responses = vec![ok("200", &def), ok("201", &def)];
                x
            }
            "patch" => {
                let mut x = op(Method::Patch, "patch", "patch", format!("partially update {s} of the specified {k}"));
                x.params = params::patch();
                x.body = patch_body();
                x.responses = vec![ok("200", &def), ok("201", &def)];
                x
            }
            "create" => {
                let mut x = op(Method::Post, "create", "post", format!("create {s} of a {k}"));
                x.params = params::write();
                x.body = object_body(&def);
                x.responses = vec![ok("200", &def), ok("201", &def), ok("202", &def)];
                x
            }
            _ => continue,
        };
        item.ops.push(operation);
    }
    (!item.ops.is_empty()).then_some(item)
}
