#!/usr/bin/env python3
"""Generate `apiserver/src/schema/generated.rs`: per-definition field facts.

Inputs (read from the local cargo registry, found via $CARGO_HOME or ~/.cargo):

* k8s-openapi 0.29 (`src/v1_35`): every type's Rust struct (field names and
  types), its serde `Deserialize` impl (JSON name -> Rust field), its
  `schemars::JsonSchema` impl (the OpenAPI definition name) and its `DeepMerge`
  impl (list/map merge semantics).
* k8s-pb 0.9 (optional but expected): the protobuf structs carry the upstream
  Go doc markers (`+patchStrategy=merge`, `+patchMergeKey=name`,
  `+listType=...`, `+listMapKey=...`).  Strategic merge patch follows the
  `patchStrategy`/`patchMergeKey` markers, which k8s-openapi does not keep,
  so they refine the list strategy where they are known.

Usage: python3 apiserver/schema-gen/gen.py [--out PATH]
"""

import argparse
import glob
import os
import re
import sys

OPENAPI_CRATE = "k8s-openapi-0.29.0"
OPENAPI_VERSION_DIR = "v1_35"
PB_CRATE = "k8s-pb-0.9.0"

# Newtypes / enums that serialise as a JSON scalar.
SCALAR_DEFINITIONS = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
}

RUST_SCALARS = {
    "bool", "i32", "i64", "f64", "std::string::String", "crate::ByteString",
}


def cargo_home():
    return os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")


def find_crate(name):
    hits = sorted(glob.glob(os.path.join(cargo_home(), "registry", "src", "*", name)))
    return hits[-1] if hits else None


# --------------------------------------------------------------------------
# k8s-openapi parsing
# --------------------------------------------------------------------------

class TypeInfo:
    """What one k8s-openapi source file says about its type."""

    def __init__(self, rust_path, definition):
        self.rust_path = rust_path          # e.g. crate::api::core::v1::Container
        self.definition = definition        # e.g. io.k8s.api.core.v1.Container
        self.is_struct = False              # named-field struct
        self.newtype_inner = None           # inner type of a tuple struct
        self.fields = []                    # [(rust name, rust type)]
        self.json_of = {}                   # rust name -> json name
        self.merge = {}                     # rust name -> ("list", kind, keys) / ("map", kind)


STRUCT_RE = re.compile(r"^pub struct (\w+)\s*\{\s*$")
NEWTYPE_RE = re.compile(r"^pub struct (\w+)\(pub (.+)\);\s*$")
FIELD_RE = re.compile(r"^    pub (\w+): (.+),\s*$")
JSON_KEY_RE = re.compile(r'^\s*"([^"]+)" => Field::Key_(\w+),\s*$')
SCHEMA_NAME_RE = re.compile(r'^\s*"([^"]+)"\.into\(\)\s*$')
MERGE_SIMPLE_RE = re.compile(
    r"crate::merge_strategies::(list|map)::(atomic|set|granular)\(\s*&mut self\.(\w+)")
MERGE_LIST_MAP_RE = re.compile(
    r"crate::merge_strategies::list::map\(\s*&mut self\.(\w+),\s*other\.\w+,\s*&\[(.*?)\],", re.S)
KEY_CLOSURE_RE = re.compile(r"\|lhs, rhs\| lhs\.([\w.()]+) == rhs\.")


def parse_openapi_file(path, rust_path):
    text = open(path, encoding="utf-8").read()
    lines = text.splitlines()

    definition = None
    for i, line in enumerate(lines):
        if "fn schema_name()" in line:
            m = SCHEMA_NAME_RE.match(lines[i + 1])
            if m:
                definition = m.group(1)
            break
    if definition is None:
        return None

    info = TypeInfo(rust_path, definition)
    in_struct = False
    for line in lines:
        if not in_struct:
            if STRUCT_RE.match(line):
                in_struct = True
                info.is_struct = True
                continue
            m = NEWTYPE_RE.match(line)
            if m:
                info.newtype_inner = m.group(2)
        else:
            if line.startswith("}"):
                in_struct = False
                continue
            m = FIELD_RE.match(line)
            if m:
                info.fields.append((m.group(1), m.group(2)))
        m = JSON_KEY_RE.match(line)
        if m:
            info.json_of.setdefault(m.group(2), m.group(1))

    for m in MERGE_SIMPLE_RE.finditer(text):
        info.merge[m.group(3)] = (m.group(1), m.group(2), [])
    for m in MERGE_LIST_MAP_RE.finditer(text):
        keys = KEY_CLOSURE_RE.findall(m.group(2))
        info.merge[m.group(1)] = ("list", "map", keys)
    return info


def load_openapi(root):
    types = {}
    for path in sorted(glob.glob(os.path.join(root, "**", "*.rs"), recursive=True)):
        rel = os.path.relpath(path, root)
        if os.path.basename(rel) in ("mod.rs", "list.rs"):
            continue
        module = os.path.dirname(rel).replace(os.sep, "::")
        # The type name is the CamelCase struct name; recover it from the file.
        text = open(path, encoding="utf-8").read()
        m = re.search(r"^pub (?:struct|enum) (\w+)", text, re.M)
        if not m:
            continue
        rust_path = "crate::%s::%s" % (module, m.group(1))
        info = parse_openapi_file(path, rust_path)
        if info is not None:
            types[rust_path] = info
    return types


# --------------------------------------------------------------------------
# k8s-pb parsing (upstream Go markers)
# --------------------------------------------------------------------------

PB_STRUCT_RE = re.compile(r"^pub struct (\w+)\s*\{")
PB_FIELD_RE = re.compile(r"^    pub (?:r#)?(\w+):")
PB_MARKER_RE = re.compile(r"^\s*/// \+(patchStrategy|patchMergeKey|listType|listMapKey|mapType)=(\S+)\s*$")


def norm(name):
    """Normalise a field or type name so prost and k8s-openapi spellings meet."""
    return name.replace("_", "").lower()


def load_pb(root):
    """Return {(module, norm type name): {norm field name: markers}}."""
    out = {}
    if root is None:
        return out
    for path in sorted(glob.glob(os.path.join(root, "src", "**", "mod.rs"), recursive=True)):
        rel = os.path.relpath(os.path.dirname(path), os.path.join(root, "src"))
        module = rel.replace(os.sep, "::")
        current = None
        markers = {}
        for line in open(path, encoding="utf-8"):
            m = PB_STRUCT_RE.match(line)
            if m:
                current = {}
                out[(module, norm(m.group(1)))] = current
                markers = {}
                continue
            if line.startswith("}"):
                current = None
                continue
            if current is None:
                continue
            m = PB_MARKER_RE.match(line)
            if m:
                markers.setdefault(m.group(1), []).append(m.group(2))
                continue
            m = PB_FIELD_RE.match(line)
            if m:
                current[norm(m.group(1))] = markers
                markers = {}
    return out


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------

def split_generic(ty, head):
    prefix = head + "<"
    if ty.startswith(prefix) and ty.endswith(">"):
        return ty[len(prefix):-1]
    return None


def leaf_kind(ty, types):
    """Classify a leaf Rust type: ('scalar',), ('any',) or ('object', definition)."""
    if ty in RUST_SCALARS:
        return ("scalar",)
    if ty == "crate::serde_json::Value":
        return ("any",)
    info = types.get(ty)
    if info is None:
        raise SystemExit("unknown leaf type %s" % ty)
    if info.definition in SCALAR_DEFINITIONS:
        return ("scalar",)
    if info.is_struct:
        return ("object", info.definition)
    if info.newtype_inner is not None:
        return leaf_kind(info.newtype_inner, types)
    # Untagged enums (JSONSchemaPropsOr*, Patch, WatchEvent) are free-form.
    return ("any",)


def strip_wrappers(ty):
    while True:
        for head in ("Option", "std::boxed::Box"):
            inner = split_generic(ty, head)
            if inner is not None:
                ty = inner
                break
        else:
            return ty


def rust_str(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def opt_def(kind):
    return "Some(%s)" % rust_str(kind[1]) if kind[0] == "object" else "None"


def list_strategy(info, rust_name, item_info, pb_markers):
    """Return (strategy rust expr) for a list field."""
    def json_key(k):
        if item_info is not None:
            return item_info.json_of.get(k, k)
        return k

    if pb_markers is not None:
        strategies = ",".join(pb_markers.get("patchStrategy", [])).split(",")
        if "merge" in strategies:
            mk = pb_markers.get("patchMergeKey", [])
            if mk:
                keys = [mk[0]] + [k for k in pb_markers.get("listMapKey", []) if k != mk[0]]
                return "ListStrategy::Map(&[%s])" % ", ".join(rust_str(k) for k in keys)
            return "ListStrategy::Set"
        return "ListStrategy::Atomic"

    merge = info.merge.get(rust_name)
    if merge and merge[0] == "list":
        if merge[1] == "set":
            return "ListStrategy::Set"
        if merge[1] == "map" and all("." not in k and "(" not in k for k in merge[2]):
            return "ListStrategy::Map(&[%s])" % ", ".join(rust_str(json_key(k)) for k in merge[2])
    return "ListStrategy::Atomic"


def field_shape(info, rust_name, ty, types, pb_markers):
    ty = strip_wrappers(ty)
    inner = split_generic(ty, "std::vec::Vec")
    if inner is not None:
        inner = strip_wrappers(inner)
        kind = leaf_kind(inner, types) if split_generic(inner, "std::vec::Vec") is None else ("any",)
        item_info = types.get(inner)
        strategy = list_strategy(info, rust_name, item_info, pb_markers)
        return "Shape::List { item: %s, strategy: %s }" % (opt_def(kind), strategy)
    inner = split_generic(ty, "std::collections::BTreeMap")
    if inner is not None:
        assert inner.startswith("std::string::String, "), inner
        value = strip_wrappers(inner[len("std::string::String, "):])
        if split_generic(value, "std::vec::Vec") is not None:
            kind = ("scalar",)
        else:
            kind = leaf_kind(value, types)
        merge = info.merge.get(rust_name)
        atomic = bool(merge and merge[0] == "map" and merge[1] == "atomic")
        if pb_markers is not None and "atomic" in pb_markers.get("mapType", []):
            atomic = True
        return "Shape::Map { value: %s, atomic: %s }" % (opt_def(kind), "true" if atomic else "false")
    kind = leaf_kind(ty, types)
    if kind[0] == "object":
        return "Shape::Object(%s)" % rust_str(kind[1])
    if kind[0] == "any":
        return "Shape::Any"
    return "Shape::Scalar"


def pb_markers_for(pb, info, rust_name):
    module, type_name = info.rust_path[len("crate::"):].rsplit("::", 1)
    fields = pb.get((module, norm(type_name)))
    if fields is None:
        return None
    return fields.get(norm(rust_name.rstrip("_")))


def generate(openapi_root, pb_root):
    types = load_openapi(openapi_root)
    pb = load_pb(pb_root)
    by_def = {}
    replace_fields = []
    stats = {"pb": 0, "fallback": 0}
    for info in types.values():
        if info.definition in by_def:
            raise SystemExit("duplicate definition %s" % info.definition)
        entries = []
        for rust_name, ty in info.fields:
            json = info.json_of.get(rust_name)
            if json is None:
                raise SystemExit("no JSON name for %s.%s" % (info.definition, rust_name))
            markers = pb_markers_for(pb, info, rust_name)
            stats["pb" if markers is not None else "fallback"] += 1
            shape = field_shape(info, rust_name, ty, types, markers)
            entries.append((json, rust_name, shape))
            if markers and "replace" in ",".join(markers.get("patchStrategy", [])).split(","):
                replace_fields.append((info.definition, json))
        entries.sort()
        by_def[info.definition] = entries

    out = []
    out.append("// @generated by apiserver/schema-gen/gen.py from %s (%s) and %s."
               % (OPENAPI_CRATE, OPENAPI_VERSION_DIR, PB_CRATE if pb else "no k8s-pb"))
    out.append("// Do not edit by hand: rerun `python3 apiserver/schema-gen/gen.py`.")
    out.append("")
    out.append("use super::{Field, ListStrategy, Shape};")
    out.append("")
    out.append("/// Every definition with its fields, sorted by definition name; fields sorted by JSON name.")
    out.append("pub(super) static DEFINITIONS: &[(&str, &[Field])] = &[")
    for definition in sorted(by_def):
        out.append("    (%s, &[" % rust_str(definition))
        for json, rust_name, shape in by_def[definition]:
            out.append("        Field { json: %s, rust: %s, shape: %s }," % (rust_str(json), rust_str(rust_name), shape))
        out.append("    ]),")
    out.append("];")
    out.append("")
    out.append("/// Fields whose upstream patch strategy is `replace`: a strategic merge patch replaces them whole.")
    out.append("pub(super) static REPLACE_FIELDS: &[(&str, &str)] = &[")
    for definition, json in sorted(replace_fields):
        out.append("    (%s, %s)," % (rust_str(definition), rust_str(json)))
    out.append("];")
    out.append("")
    sys.stderr.write("%d definitions, %d fields with upstream markers, %d from k8s-openapi only\n"
                     % (len(by_def), stats["pb"], stats["fallback"]))
    return "\n".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "src", "schema", "generated.rs"))
    args = parser.parse_args()

    openapi = find_crate(OPENAPI_CRATE)
    if openapi is None:
        raise SystemExit("cannot find %s under %s/registry/src" % (OPENAPI_CRATE, cargo_home()))
    pb = find_crate(PB_CRATE)
    if pb is None:
        sys.stderr.write("warning: %s not found; list strategies come from k8s-openapi only\n" % PB_CRATE)
    code = generate(os.path.join(openapi, "src", OPENAPI_VERSION_DIR), pb)
    with open(os.path.normpath(args.out), "w", encoding="utf-8") as f:
        f.write(code)


if __name__ == "__main__":
    main()
