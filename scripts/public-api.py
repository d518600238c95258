#!/usr/bin/env python3
"""Prints the public API of a crate from its rustdoc JSON (one item a line, sorted).

Usage: public-api.py CRATE.json

Every item reachable from the crate root under a public path: modules, structs with their
public fields, enums with their variants, traits, functions and inherent methods with their
signatures, constants, statics, type aliases, trait implementations (derived or written,
not the auto traits and blanket ones), and `#[non_exhaustive]`. Types are printed by their
last path segment, so moving an item between private modules changes nothing here, while
renaming, removing or changing the signature of anything public does. scripts/public-api.sh
compares this with the snapshots in api/.
"""

import json
import sys

data = json.load(open(sys.argv[1]))
index = data["index"]
lines = set()


def item(i):
    return index.get(str(i))


def name_of(path):
    return path.rsplit("::", 1)[-1]


def args(a):
    if not a:
        return ""
    if "angle_bracketed" in a:
        ab = a["angle_bracketed"]
        parts = []
        for g in ab["args"]:
            if "type" in g:
                parts.append(ty(g["type"]))
            elif "lifetime" in g:
                parts.append(g["lifetime"])
            elif "const" in g:
                parts.append(str(g["const"].get("expr", "_")))
            else:
                parts.append("_")
        for c in ab.get("constraints", []):
            b = c.get("binding", {})
            if "equality" in b:
                eq = b["equality"]
                parts.append(c["name"] + " = " + (ty(eq["type"]) if "type" in eq else "_"))
            else:
                parts.append(c["name"] + ": " + bounds(b.get("constraint", [])))
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in a:
        p = a["parenthesized"]
        out = "(" + ", ".join(ty(t) for t in p["inputs"]) + ")"
        return out + (" -> " + ty(p["output"]) if p.get("output") else "")
    return ""


def path(p):
    """A path by its last segment, qualified by its crate when it is another crate's
    (`std::Error` is io's, `core::Error` the trait): stable when private modules move."""
    name = name_of(p["path"])
    summary = data["paths"].get(str(p.get("id")))
    if summary and summary["crate_id"] != 0:
        crate = data["external_crates"].get(str(summary["crate_id"]), {}).get("name")
        name = f"{crate}::{name}" if crate else name
    return name + args(p.get("args"))


def bounds(bs):
    out = []
    for b in bs:
        if "trait_bound" in b:
            tb = b["trait_bound"]
            prefix = "?" if tb.get("modifier") == "maybe" else ""
            out.append(prefix + path(tb["trait"]))
        elif "outlives" in b:
            out.append(b["outlives"])
        else:
            out.append("_")
    return " + ".join(out)


def ty(t):
    if t is None:
        return "()"
    (kind, v), = t.items()
    if kind == "resolved_path":
        return path(v)
    if kind in ("generic", "primitive"):
        return v
    if kind == "borrowed_ref":
        lt = v["lifetime"] + " " if v.get("lifetime") else ""
        return "&" + lt + ("mut " if v["is_mutable"] else "") + ty(v["type"])
    if kind == "raw_pointer":
        return ("*mut " if v["is_mutable"] else "*const ") + ty(v["type"])
    if kind == "slice":
        return "[" + ty(v) + "]"
    if kind == "array":
        return "[" + ty(v["type"]) + "; " + v["len"] + "]"
    if kind == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if kind == "impl_trait":
        return "impl " + bounds(v)
    if kind == "dyn_trait":
        traits = [path(pt["trait"]) for pt in v["traits"]]
        if v.get("lifetime"):
            traits.append(v["lifetime"])
        return "dyn " + " + ".join(traits)
    if kind == "qualified_path":
        return "<" + ty(v["self_type"]) + " as " + (path(v["trait"]) if v.get("trait") else "_") + ">::" + v["name"]
    if kind == "function_pointer":
        sig = v["sig"]
        return "fn(" + ", ".join(ty(x[1]) for x in sig["inputs"]) + ") -> " + ty(sig["output"])
    return kind


def generics(g):
    params = []
    for p in g["params"]:
        k = p["kind"]
        if "lifetime" in k:
            params.append(p["name"])
        elif "type" in k:
            if k["type"].get("is_synthetic"):
                continue
            b = bounds(k["type"]["bounds"])
            params.append(p["name"] + (": " + b if b else ""))
        elif "const" in k:
            params.append("const " + p["name"] + ": " + ty(k["const"]["type"]))
    out = "<" + ", ".join(params) + ">" if params else ""
    preds = []
    for w in g["where_predicates"]:
        if "bound_predicate" in w:
            bp = w["bound_predicate"]
            preds.append(ty(bp["type"]) + ": " + bounds(bp["bounds"]))
    return out, (" where " + ", ".join(preds) if preds else "")


def self_arg(t):
    if t == {"generic": "Self"}:
        return "self"
    if "borrowed_ref" in t and t["borrowed_ref"]["type"] == {"generic": "Self"}:
        return "&mut self" if t["borrowed_ref"]["is_mutable"] else "&self"
    return "self: " + ty(t)


def fn_sig(f):
    head = f["header"]
    quals = ("const " if head["is_const"] else "") + ("unsafe " if head["is_unsafe"] else "")
    gen, where = generics(f["generics"])
    inputs = ", ".join(self_arg(t) if n == "self" else n + ": " + ty(t) for n, t in f["sig"]["inputs"])
    out = f["sig"]["output"]
    return quals, gen, "(" + inputs + ")" + (" -> " + ty(out) if out else "") + where


def attrs(it):
    return "#[non_exhaustive] " if any("non_exhaustive" in json.dumps(a) for a in it.get("attrs", [])) else ""


def impls(type_path, ids):
    for i in ids:
        im = item(i)
        if im is None:
            continue
        imp = im["inner"]["impl"]
        if imp["is_synthetic"] or imp.get("blanket_impl") or imp.get("is_negative"):
            continue
        if imp["trait"] is None:
            for m in imp["items"]:
                mi = item(m)
                if mi is None or mi["visibility"] != "public":
                    continue
                kind = next(iter(mi["inner"]))
                if kind == "function":
                    q, g, s = fn_sig(mi["inner"]["function"])
                    lines.add(f"{q}fn {type_path}::{mi['name']}{g}{s}")
                elif kind == "assoc_const":
                    lines.add(f"const {type_path}::{mi['name']}: {ty(mi['inner']['assoc_const']['type'])}")
        else:
            gen, where = generics(imp["generics"])
            lines.add(f"impl{gen} {path(imp['trait'])} for {ty(imp['for'])}{where}")


def walk(i, prefix, seen, name=None):
    it = item(i)
    name = name or it.get("name") if it else None
    if it is None or (i, prefix, name) in seen:
        return
    seen.add((i, prefix, name))
    inner = it["inner"]
    kind = next(iter(inner))
    v = inner[kind]
    here = prefix + "::" + name if prefix and name else (name or prefix)
    if kind == "use":
        if v["is_glob"]:
            target = item(v["id"]) if v.get("id") is not None else None
            if target and "module" in target["inner"]:
                for c in target["inner"]["module"]["items"]:
                    if item(c) and item(c)["visibility"] == "public":
                        walk(c, prefix, seen)
            return
        target = item(v["id"]) if v.get("id") is not None else None
        if target is None:
            lines.add(f"pub use {prefix}::{v['name']} = {v['source']}")
            return
        walk(v["id"], prefix, seen, v["name"])
        return
    if kind == "module":
        lines.add(f"mod {here}")
        for c in v["items"]:
            ci = item(c)
            if ci is not None and ci["visibility"] == "public":
                walk(c, here, seen)
    elif kind == "struct":
        gen, where = generics(v["generics"])
        lines.add(f"{attrs(it)}struct {here}{gen}{where}")
        k = v["kind"]
        fields = k.get("plain", {}).get("fields", []) if isinstance(k, dict) else []
        if isinstance(k, dict) and "tuple" in k:
            fields = [f for f in k["tuple"] if f is not None]
        for f in fields:
            fi = item(f)
            if fi and fi["visibility"] == "public":
                lines.add(f"field {here}::{fi['name']}: {ty(fi['inner']['struct_field'])}")
        impls(here, v["impls"])
    elif kind == "enum":
        gen, where = generics(v["generics"])
        lines.add(f"{attrs(it)}enum {here}{gen}{where}")
        for var in v["variants"]:
            vi = item(var)
            vk = vi["inner"]["variant"]["kind"]
            shape = ""
            if isinstance(vk, dict) and "tuple" in vk:
                shape = "(" + ", ".join(ty(item(f)["inner"]["struct_field"]) if f is not None else "_" for f in vk["tuple"]) + ")"
            elif isinstance(vk, dict) and "struct" in vk:
                shape = " { " + ", ".join(item(f)["name"] + ": " + ty(item(f)["inner"]["struct_field"]) for f in vk["struct"]["fields"]) + " }"
            lines.add(f"{attrs(vi)}variant {here}::{vi['name']}{shape}")
        impls(here, v["impls"])
    elif kind == "function":
        q, g, s = fn_sig(v)
        lines.add(f"{q}fn {here}{g}{s}")
    elif kind == "trait":
        gen, where = generics(v["generics"])
        lines.add(f"{'unsafe ' if v['is_unsafe'] else ''}trait {here}{gen}{where}")
        for m in v["items"]:
            mi = item(m)
            if mi and "function" in mi["inner"]:
                q, g, s = fn_sig(mi["inner"]["function"])
                lines.add(f"{q}fn {here}::{mi['name']}{g}{s}")
    elif kind == "constant":
        lines.add(f"const {here}: {ty(v['type'])}")
    elif kind == "static":
        lines.add(f"static {here}: {ty(v['type'])}")
    elif kind == "type_alias":
        gen, _ = generics(v["generics"])
        lines.add(f"type {here}{gen} = {ty(v['type'])}")
    elif kind == "macro":
        lines.add(f"macro {here}!")
    else:
        lines.add(f"{kind} {here}")


walk(data["root"], "", set())
print("\n".join(sorted(lines)))
