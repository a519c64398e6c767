#!/usr/bin/env python3
"""Generate `apiserver/src/proto/generated.rs`: the protobuf field tables.

Inputs (read only, nothing is copied verbatim into the output except names):

* the `k8s-pb` 0.9 crate (prost code) for messages, field tags and wire kinds;
* the `k8s-openapi` 0.29 crate (`v1_35`) for definition names (`JSONSchemaProps`,
  not prost's `JsonSchemaProps`) and JSON field names;
* optionally (`--go-src DIR`, repeatable) checkouts of the upstream Go API types
  (`kubernetes/api`, `kubernetes/apimachinery`, `kubernetes/apiextensions-apiserver`)
  from which only three facts per field are derived: whether the Go field is a
  pointer, whether its json tag has `omitempty`, and whether it is an embedded
  (inlined) struct. Without them the generator falls back to "required in
  k8s-openapi" for the keep-zero flag and to a name-subset test for inlining.

Both crates are located under `$CARGO_HOME/registry/src/*/` (default `~/.cargo`).

Usage:
    python3 apiserver/proto-gen/gen.py --go-src /tmp/gosrc/api \
        --go-src /tmp/gosrc/apimachinery --go-src /tmp/gosrc/apiextensions-apiserver

The output is written to `apiserver/src/proto/generated.rs` next to this directory.
"""

import argparse
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "proto", "generated.rs")


def crate_dir(name):
    home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
    hits = sorted(glob.glob(os.path.join(home, "registry", "src", "*", name)))
    if not hits:
        sys.exit(f"crate {name} not found under {home}/registry/src; run `cargo fetch` first")
    return hits[-1]


def norm(name):
    """Normalise a field name so prost's, k8s-openapi's and JSON spellings compare equal."""
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("r#", ""))


def camel(snake):
    """lowerCamelCase from prost's snake_case (fallback for definitions k8s-openapi lacks)."""
    parts = snake.replace("r#", "").split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


# --------------------------------------------------------------------------- k8s-pb


def pb_prefix(modpath):
    """`api/apps/v1` -> `io.k8s.api.apps.v1`; first segment's `_` become `-`."""
    parts = modpath.split("/")
    parts[0] = parts[0].replace("_", "-")
    return "io.k8s." + ".".join(parts)


SCALARS = {"string", "bytes", "int32", "int64", "bool", "double"}


def resolve(modpath, rust_type):
    """Resolve a prost type path (relative `super::` chain or bare name) to (modpath, Name)."""
    t = re.sub(r",\s*>", ">", rust_type.strip()).rstrip(",")
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while t.startswith(wrapper):
            t = t[len(wrapper):-1].strip()
    segs = t.split("::")
    base = modpath.split("/")
    while segs and segs[0] == "super":
        segs.pop(0)
        base.pop()
    return "/".join(base + segs[:-1]), segs[-1]


def parse_pb(root):
    """Return ({(modpath, Name): [field dicts]}, {(modpath, Name): (apiVersion, kind)})."""
    messages, resources = {}, {}
    src = os.path.join(root, "src")
    for path in sorted(glob.glob(os.path.join(src, "**", "mod.rs"), recursive=True)):
        modpath = os.path.relpath(os.path.dirname(path), src).replace(os.sep, "/")
        text = open(path).read()
        # struct bodies
        for m in re.finditer(r"pub struct (\w+) \{\}", text):
            messages[(modpath, m.group(1))] = []
        for m in re.finditer(r"pub struct (\w+) \{\n(.*?)\n\}", text, re.S):
            name, body = m.group(1), m.group(2)
            fields, doc = [], []
            lines = body.split("\n")
            i = 0
            while i < len(lines):
                line = lines[i].strip()
                if line.startswith("///"):
                    doc.append(line[3:].strip())
                elif line.startswith("#[prost("):
                    attr = line
                    decl = lines[i + 1].strip()
                    i += 1
                    while not decl.endswith(",") or decl.count("<") != decl.count(">"):
                        i += 1
                        decl += lines[i].strip()
                    fields.append(pb_field(modpath, attr, decl, doc))
                    doc = []
                i += 1
            messages[(modpath, name)] = fields
        for m in re.finditer(
            r"impl crate::Resource for (\w+) \{\s*const API_VERSION: &'static str = \"([^\"]*)\";"
            r".*?const KIND: &'static str = \"([^\"]*)\";",
            text,
            re.S,
        ):
            resources[(modpath, m.group(1))] = (m.group(2), m.group(3))
    return messages, resources


def pb_field(modpath, attr, decl, doc):
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    fm = re.match(r"pub (r#\w+|\w+):\s*(.*),$", decl)
    rust, rtype = fm.group(1), fm.group(2)
    repeated = " repeated" in attr
    mm = re.search(r'(?:btree_map|map) = "(\w+), (\w+)"', attr)
    f = {"tag": tag, "rust": rust.replace("r#", ""), "repeated": repeated, "doc": " ".join(doc)}
    if mm:
        key, val = mm.group(1), mm.group(2)
        if key != "string":
            sys.exit(f"unsupported map key {key} in {modpath} {rust}")
        f["kind"] = "map"
        f["map_value"] = val
        if val == "message":
            inner = rtype[rtype.index(",") + 1 : rtype.rindex(">")]
            f["type"] = resolve(modpath, inner)
        return f
    km = re.match(r"#\[prost\((\w+)", attr)
    kind = km.group(1)
    if kind not in SCALARS and kind != "message":
        sys.exit(f"unsupported prost kind {kind} in {modpath} {rust}")
    f["kind"] = kind
    if kind == "message":
        f["type"] = resolve(modpath, rtype)
    return f


# --------------------------------------------------------------------------- k8s-openapi


def parse_openapi(root):
    """Return {definition: {"name": GoName, "fields": {rust: (json, required)}}}."""
    out = {}
    base = os.path.join(root, "src", "v1_35")
    for path in glob.glob(os.path.join(base, "**", "*.rs"), recursive=True):
        text = open(path).read()
        sm = re.search(r'fn schema_name\(\) -> std::borrow::Cow<\'static, str> \{\s*"([^"]+)"\.into\(\)', text)
        st = re.search(r"pub struct (\w+)\s*(\{\n(.*?)\n\}|\()", text, re.S)
        if not sm or not st:
            continue
        fields = {}
        body = st.group(3) or ""
        types = {}
        for fm in re.finditer(r"^\s*pub (\w+): (.*),$", body, re.M):
            types[fm.group(1)] = fm.group(2)
        for km in re.finditer(r'"([^"]+)" => Field::Key_(\w+),', text):
            json, rust = km.group(1), km.group(2)
            ty = types.get(rust, "Option<")
            fields[rust] = (json, not ty.startswith("Option<"))
        out[sm.group(1)] = {"name": st.group(1), "fields": fields}
    return out


# --------------------------------------------------------------------------- Go types


def go_prefix(reldir):
    parts = reldir.split("/")
    if parts[0] == "pkg":  # apimachinery or apiextensions-apiserver checkout
        return None
    return "io.k8s.api." + ".".join(parts)


GO_FIELD = re.compile(r"^\s*(?:(\w+)\s+)?(\*?\[?\]?[\w.*\[\]]+)\s+`([^`]*)`")


def parse_go(dirs):
    """Return ({definition: {tag: facts}}, {definition prefix: group}) from Go API sources."""
    facts, groups = {}, {}
    for d in dirs:
        top = os.path.basename(os.path.normpath(d))
        for path in glob.glob(os.path.join(d, "**", "*.go"), recursive=True):
            if path.endswith("_test.go") or "/testdata/" in path:
                continue
            rel = os.path.relpath(os.path.dirname(path), d).replace(os.sep, "/")
            if top in ("apimachinery", "apiextensions-apiserver"):
                prefix = f"io.k8s.{top}." + rel.replace("/", ".")
            else:
                prefix = "io.k8s.api." + rel.replace("/", ".")
            text = open(path).read()
            gm = re.search(r'^const GroupName = "([^"]*)"', text, re.M)
            if gm:
                groups[prefix] = gm.group(1)
            for sm in re.finditer(r"^type (\w+) struct \{\n(.*?)^\}", text, re.S | re.M):
                definition = prefix + "." + sm.group(1)
                facts.setdefault(definition, {})
                for line in sm.group(2).split("\n"):
                    fm = GO_FIELD.match(line)
                    if not fm or 'protobuf:"' not in fm.group(3):
                        continue
                    name, gotype, tags = fm.groups()
                    pm = re.search(r'protobuf:"\w+,(\d+),', tags)
                    jm = re.search(r'json:"([^"]*)"', tags)
                    if not pm or jm is None:
                        continue
                    jparts = jm.group(1).split(",")
                    facts.setdefault(definition, {})[int(pm.group(1))] = {
                        "json": jparts[0],
                        "pointer": gotype.startswith("*"),
                        "omitempty": "omitempty" in jparts[1:],
                        "inline": name is None and (jparts[0] == "" or "inline" in jparts[1:]),
                    }
    return facts, groups


# --------------------------------------------------------------------------- groups

GROUP_RULES = {
    "core": "",
    "apps": "apps",
    "batch": "batch",
    "autoscaling": "autoscaling",
    "policy": "policy",
    "extensions": "extensions",
    "rbac": "rbac.authorization.k8s.io",
    "apiserverinternal": "internal.apiserver.k8s.io",
    "flowcontrol": "flowcontrol.apiserver.k8s.io",
    "custom_metrics": "custom.metrics.k8s.io",
    "external_metrics": "external.metrics.k8s.io",
    "meta": "meta.k8s.io",
}


def group_version(modpath):
    """k8s-pb module path -> apiVersion (`apps/v1`, `v1`, `meta.k8s.io/v1`), or None."""
    parts = modpath.split("/")
    version = parts[-1]
    if not re.match(r"v\d", version) or "testapigroup" in parts:
        return None
    component = parts[-2]
    group = GROUP_RULES.get(component, component + ".k8s.io")
    return f"{group}/{version}" if group else version


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--go-src", action="append", default=[], help="Go API types checkout (repeatable)")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()

    pb_root, oa_root = crate_dir("k8s-pb-0.9.0"), crate_dir("k8s-openapi-0.29.0")
    pb, resources = parse_pb(pb_root)
    oa = parse_openapi(oa_root)
    go, go_groups = parse_go(args.go_src)
    warnings = []

    # Definition names: k8s-openapi's Go name when the lowercase names match, else Go, else prost.
    oa_by_lower = {}
    for d in oa:
        pre, _, nm = d.rpartition(".")
        oa_by_lower[(pre, nm.lower())] = d
    go_by_lower = {}
    for d in go:
        pre, _, nm = d.rpartition(".")
        go_by_lower[(pre, nm.lower())] = d
    defname = {}
    for (mod, name) in pb:
        pre = pb_prefix(mod)
        key = (pre, name.lower())
        if (mod, name) in resources and resources[(mod, name)][1].lower() == name.lower():
            defname[(mod, name)] = pre + "." + resources[(mod, name)][1]
        if key in oa_by_lower:
            defname[(mod, name)] = oa_by_lower[key]
        elif key in go_by_lower:
            defname[(mod, name)] = go_by_lower[key]
        else:
            defname.setdefault((mod, name), pre + "." + name)

    # apiVersion -> package prefix, checked against the Resource impls and Go GroupName.
    groups = {}
    for (mod, _name) in pb:
        gv = group_version(mod)
        if gv:
            groups[gv] = pb_prefix(mod)
    for (mod, name), (api_version, kind) in resources.items():
        if groups.get(api_version) != pb_prefix(mod):
            warnings.append(f"group rule disagrees with Resource impl {api_version} {kind} in {mod}")
    for prefix, group in go_groups.items():
        for gv, p in groups.items():
            if p == prefix and gv.rpartition("/")[0] != group:
                warnings.append(f"group rule {gv} disagrees with Go GroupName {group} for {prefix}")

    messages = {}
    stats = {"json_openapi": 0, "json_go": 0, "json_camel": 0, "flags_go": 0, "flags_openapi": 0}
    for (mod, name), fields in pb.items():
        d = defname[(mod, name)]
        oa_fields = oa.get(d, {}).get("fields", {})
        oa_norm = {norm(j): (j, req) for (j, req) in oa_fields.values()}
        go_fields = go.get(d, {})
        out = []
        for f in sorted(fields, key=lambda f: f["tag"]):
            g = go_fields.get(f["tag"])
            o = oa_norm.get(norm(f["rust"]))
            inline = bool(g and g["inline"])
            if inline:
                json = ""
            elif o:
                json = o[0]
                stats["json_openapi"] += 1
                if g and g["json"] != json:
                    warnings.append(f"{d}.{f['rust']}: k8s-openapi says {json}, Go says {g['json']}")
            elif g:
                json = g["json"]
                stats["json_go"] += 1
            else:
                json = camel(f["rust"])
                stats["json_camel"] += 1
            if g:
                keep_zero = g["pointer"] or not g["omitempty"]
                stats["flags_go"] += 1
            else:
                keep_zero = bool(o and o[1])
                stats["flags_openapi"] += 1
            if f["kind"] == "message" or f.get("map_value") == "message":
                target = defname.get(f["type"])
                if target is None:
                    sys.exit(f"{d}.{f['rust']}: unresolved type {f['type']}")
            else:
                target = None
            out.append(dict(f, json=json, keep_zero=keep_zero, inline=inline, target=target))
        # Inline fallback without Go facts: a message field k8s-openapi does not know
        # whose target's JSON names all appear in the parent.
        for f in out:
            if f["inline"] or f["kind"] != "message" or go_fields or not oa_fields:
                continue
            if norm(f["rust"]) in oa_norm:
                continue
            child = oa.get(f["target"], {}).get("fields", {})
            if child and all(norm(j) in oa_norm for (j, _) in child.values()):
                f["inline"], f["json"] = True, ""
        messages[d] = out

    emit(args.out, messages, groups)
    for w in sorted(set(warnings)):
        print("warning:", w, file=sys.stderr)
    print(f"{len(messages)} messages, {len(groups)} group versions, {stats}", file=sys.stderr)


KIND_NAMES = {
    "string": "Kind::String",
    "bytes": "Kind::Bytes",
    "int32": "Kind::Int32",
    "int64": "Kind::Int64",
    "bool": "Kind::Bool",
    "double": "Kind::Double",
}


def rust_kind(f):
    if f["kind"] == "map":
        v = f["map_value"]
        if v == "message":
            return f'Kind::Map(MapValue::Message("{f["target"]}"))'
        return f"Kind::Map(MapValue::{v.capitalize()})"
    if f["kind"] == "message":
        return f'Kind::Message("{f["target"]}")'
    return KIND_NAMES[f["kind"]]


def emit(path, messages, groups):
    w = []
    w.append("// @generated by apiserver/proto-gen/gen.py from k8s-pb 0.9 and k8s-openapi 0.29 (v1_35).")
    w.append("// Do not edit by hand: rerun the generator.")
    w.append("")
    w.append("use super::{FieldDef, Kind, MapValue, MessageDef};")
    w.append("")
    w.append("/// Every protobuf message, sorted by upstream definition name.")
    w.append("pub(super) static MESSAGES: &[MessageDef] = &[")
    for d in sorted(messages):
        w.append(f'    MessageDef {{ name: "{d}", fields: &[')
        for f in messages[d]:
            w.append(
                f'        FieldDef {{ tag: {f["tag"]}, rust: "{f["rust"]}", json: "{f["json"]}", '
                f"kind: {rust_kind(f)}, repeated: {str(f['repeated']).lower()}, "
                f"keep_zero: {str(f['keep_zero']).lower()}, inline: {str(f['inline']).lower()} }},"
            )
        w.append("    ] },")
    w.append("];")
    w.append("")
    w.append("/// apiVersion to definition-name prefix, sorted by apiVersion.")
    w.append("pub(super) static GROUP_VERSIONS: &[(&str, &str)] = &[")
    for gv in sorted(groups):
        w.append(f'    ("{gv}", "{groups[gv]}"),')
    w.append("];")
    with open(path, "w") as fh:
        fh.write("\n".join(w) + "\n")


if __name__ == "__main__":
    main()
