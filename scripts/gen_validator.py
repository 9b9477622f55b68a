#!/usr/bin/env python3
"""Compile schema/*.schema.json into src/cloudbase_rollout/vocabulary/_compiled.py.

The generated module answers one question, fast and without importing any
validator library: does this JSON value satisfy the schema?  It is the valid
path of cloudbase_rollout.validate; jsonschema (Draft202012Validator) stays the
reference and is imported only to explain a failure. Every schema/*.schema.json is compiled;
is_valid's `which` is the file name without .schema.json ("request", "release.reply", ...).

    python scripts/gen_validator.py            # (re)write the module
    python scripts/gen_validator.py --check    # exit 1 when it is stale

Semantics follow jsonschema's Draft 2020-12 implementation keyword by keyword,
for the keywords this project's schemas use:

- type: "integer" is an int that is not a bool, or a float with no fractional
  part (draft 6+); "number" is an int or float that is not a bool; "object" is
  a dict, "array" a list (as jsonschema's type checker says).
- enum / const: jsonschema's equality (1 is not true, 0 is not false).
- pattern: re.search with the pattern as written, so `$` also matches before a
  final newline, exactly as the reference does (ECMA-262 would not).
- minLength / maxLength count code points (len), as the reference does.
- properties, required, additionalProperties (boolean or schema), items (a
  schema), allOf, anyOf, oneOf, not, if / then / else, $ref to a JSON pointer in
  the same document ($ref siblings apply, as in 2020-12).
- Annotations (title, description, x-*, contentMediaType, ...) assert nothing in
  2020-12 and are skipped.

Any other keyword stops the generator with an error, so a schema change can
never silently weaken the fast path: extend this compiler, and the agreement
test in tests/test_fast_validator.py, first.

Standard library only; runs from a source checkout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUFFIX = ".schema.json"
OUTPUT = Path("src/cloudbase_rollout/vocabulary/_compiled.py")
GENERATOR = "scripts/gen_validator.py"

ANNOTATIONS = {
    "$schema", "$comment", "$defs", "title", "description", "examples", "default", "deprecated",
    "readOnly", "writeOnly", "contentMediaType", "contentEncoding", "contentSchema",
}
LEAF = {"type", "enum", "const", "minLength", "maxLength", "pattern",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
STRUCTURE = {"properties", "required", "additionalProperties", "items", "allOf", "anyOf", "oneOf",
             "not", "if", "then", "else", "$ref"}
TYPE_TESTS = {
    "string": "isinstance({v}, str)",
    "integer": "_is_integer({v})",
    "number": "_is_number({v})",
    "boolean": "isinstance({v}, bool)",
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "null": "{v} is None",
}


class SchemaError(Exception):
    """The schema uses something this compiler does not implement."""


@dataclass
class Function:
    name: str
    where: str
    lines: list[str] = field(default_factory=list)


class Compiler:
    def __init__(self) -> None:
        self.functions: list[Function] = []
        self.by_node: dict[int, str] = {}
        self.patterns: dict[str, str] = {}
        self.constants: dict[str, str] = {}
        self.needs_equal = False
        self.doc: dict[str, Any] = {}
        self.prefix = ""
        # by_node is keyed by id(): every document must outlive the compiler, or a later
        # document's node could reuse a freed id and be handed an earlier node's function.
        self.documents: list[dict[str, Any]] = []

    # -- documents ---------------------------------------------------------

    def compile_document(self, prefix: str, doc: dict[str, Any]) -> str:
        self.documents.append(doc)
        self.doc, self.prefix = doc, re.sub(r"[^0-9A-Za-z_]+", "_", prefix)
        return self.function(doc, "#", f"_{prefix}")

    def resolve(self, ref: str) -> tuple[Any, str]:
        if not ref.startswith("#"):
            raise SchemaError(f"$ref {ref!r}: only references inside the same document are supported")
        node: Any = self.doc
        pointer = ref[1:]
        if pointer and not pointer.startswith("/"):
            raise SchemaError(f"$ref {ref!r}: anchors are not supported, use a JSON pointer")
        for raw in pointer.split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise SchemaError(f"$ref {ref!r} points at nothing")
        return node, ref

    # -- functions ---------------------------------------------------------

    def function(self, schema: Any, where: str, name: str) -> str:
        """The name of a function `(x) -> bool` for schema, compiling it once."""
        known = self.by_node.get(id(schema))
        if known:
            return known
        name = self._unique(name)
        self.by_node[id(schema)] = name
        fn = Function(name, where)
        self.functions.append(fn)  # before the body: recursion through $ref finds it
        if schema is True or schema == {}:
            fn.lines = ["return True"]
        elif schema is False:
            fn.lines = ["return False"]
        else:
            fn.lines = [*self.checks(schema, "x", where, name), "return True"]
        return name

    def _unique(self, name: str) -> str:
        name = re.sub(r"[^0-9A-Za-z_]+", "_", name).rstrip("_")
        taken = {f.name for f in self.functions}
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}_{n}", n + 1
        return candidate

    def child(self, schema: Any, where: str, name: str, var: str) -> str:
        """An expression that is true when var satisfies schema."""
        if schema is True or schema == {}:
            return "True"
        if schema is False:
            return "False"
        if isinstance(schema, dict) and set(schema) == {"$ref"}:
            target, ref = self.resolve(schema["$ref"])
            fn = self.function(target, ref, f"_{self.prefix}_" + ref.rsplit("/", 1)[-1])
            return f"{fn}({var})"
        return f"{self.function(schema, where, name)}({var})"

    # -- one schema object -------------------------------------------------

    def checks(self, schema: Any, v: str, where: str, name: str) -> list[str]:
        """Statements that `return False` when v does not satisfy schema."""
        if schema is True or schema == {}:
            return []
        if schema is False:
            return ["return False"]
        if not isinstance(schema, dict):
            raise SchemaError(f"{where}: a schema must be an object or a boolean")
        unknown = [k for k in schema if k not in ANNOTATIONS | LEAF | STRUCTURE and not k.startswith("x-")
                   and not (k == "$id" and where == "#")]
        if unknown:
            raise SchemaError(f"{where}: keyword(s) {', '.join(sorted(unknown))} not supported by {GENERATOR}")
        out = self.leaf_checks(schema, v, where)
        if "$ref" in schema:
            out.append(f"if not {self.child({'$ref': schema['$ref']}, where, name, v)}:")
            out.append("    return False")
        out += self.object_checks(schema, v, where, name)
        if "items" in schema:
            item = self.child(schema["items"], f"{where}/items", f"{name}_items", "item")
            if item != "True":
                array = schema.get("type") in ("array", ["array"])
                guard = "" if array else f"isinstance({v}, list) and "
                out.append(f"if {guard}not all({item} for item in {v}):")
                out.append("    return False")
        out += self.combinators(schema, v, where, name)
        return out

    def leaf_checks(self, schema: dict[str, Any], v: str, where: str) -> list[str]:
        """`if not (...): return False` for the keywords that look at one value only."""
        must = self.leaf_predicates(schema, v, where)
        if not must:
            return []
        if len(must) == 1:
            equality = re.fullmatch(r"(\w+) == (.+)", must[0])
            if equality:
                return [f"if {equality[1]} != {equality[2]}:", "    return False"]
            test = must[0] if " and " not in must[0] and " or " not in must[0] else f"({must[0]})"
            return [f"if not {test}:", "    return False"]
        test = " and ".join(must)
        if len(test) > 100:
            return ["if not (", *(f"    {p}{' and' if i < len(must) - 1 else ''}" for i, p in enumerate(must)),
                    "):", "    return False"]
        return [f"if not ({test}):", "    return False"]

    def leaf_predicates(self, schema: dict[str, Any], v: str, where: str) -> list[str]:
        """What must hold of v; a keyword that applies to one kind only is guarded by that kind
        (unless the schema's type already says it is of that kind)."""
        must: list[str] = []
        kinds: list[str] = []
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            bad = [k for k in kinds if k not in TYPE_TESTS]
            if bad or not kinds:
                raise SchemaError(f"{where}/type: unknown type(s) {bad}")
            tests = [TYPE_TESTS[k].format(v=v) for k in kinds]
            must.append(tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")")
        if "enum" in schema:
            must.append(self.in_values(schema["enum"], v, where))
        if "const" in schema:
            must.append(self.in_values([schema["const"]], v, where))

        def guarded(kind: str, condition: str) -> str:
            if kinds == [kind] or (kind == "number" and kinds == ["integer"]):
                return condition
            return f"(not {TYPE_TESTS[kind].format(v=v)} or {condition})"

        low = schema.get("minLength")
        high = schema.get("maxLength")
        if low is not None or high is not None:
            lo = self.integer(low, f"{where}/minLength") if low is not None else None
            hi = self.integer(high, f"{where}/maxLength") if high is not None else None
            if lo is not None and hi is not None:
                must.append(guarded("string", f"{lo} <= len({v}) <= {hi}"))
            elif lo is not None:
                must.append(guarded("string", f"len({v}) >= {lo}"))
            else:
                must.append(guarded("string", f"len({v}) <= {hi}"))
        if "pattern" in schema:
            pattern = schema["pattern"]
            try:
                re.compile(pattern)
            except re.error as error:
                raise SchemaError(f"{where}/pattern: {error}") from None
            const = self.patterns.setdefault(pattern, f"_PATTERN_{len(self.patterns) + 1}")
            must.append(guarded("string", f"{const}.search({v}) is not None"))
        low_op = {"minimum": "<=", "exclusiveMinimum": "<"}
        high_op = {"maximum": "<=", "exclusiveMaximum": "<"}
        for keyword in (*low_op, *high_op):
            limit = schema.get(keyword)
            if keyword in schema and (isinstance(limit, bool) or not isinstance(limit, (int, float))):
                raise SchemaError(f"{where}/{keyword}: must be a number")
        lows = [f"{schema[k]!r} {op} " for k, op in low_op.items() if k in schema]
        highs = [f" {op} {schema[k]!r}" for k, op in high_op.items() if k in schema]
        if len(lows) == 1 and not highs:
            limit, op = lows[0].split()
            must.append(guarded("number", f"{v} {op.replace('<', '>')} {limit}"))
        elif len(lows) <= 1 and len(highs) <= 1 and (lows or highs):
            must.append(guarded("number", (lows[0] if lows else "") + v + (highs[0] if highs else "")))
        elif lows or highs:
            must.append(guarded("number", " and ".join([f"{lo}{v}" for lo in lows] + [f"{v}{hi}" for hi in highs])))
        return must

    def object_checks(self, schema: dict[str, Any], v: str, where: str, name: str) -> list[str]:
        body: list[str] = []
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaError(f"{where}/required: must be a list of names")
        for prop in required:
            body += [f"if {prop!r} not in {v}:", "    return False"]
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise SchemaError(f"{where}/properties: must be an object")
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            keys = self.constant(f"_KEYS_{name.lstrip('_')}", frozenset(properties))
            if extra is False:
                body += [f"if not {keys}.issuperset({v}):", "    return False"]
            else:
                test = self.child(extra, f"{where}/additionalProperties", f"{name}_additional", f"{v}[key]")
                body += [f"for key in {v}:", f"    if key not in {keys} and not {test}:", "        return False"]
        for prop, sub in properties.items():
            here = f"{where}/properties/{prop}"
            present = prop in required
            if isinstance(sub, dict) and {k for k in sub if not k.startswith("x-")} <= LEAF | ANNOTATIONS:
                inner = self.leaf_checks(sub, "value", here)
                if not inner:
                    continue
                if present:
                    body += [f"value = {v}[{prop!r}]", *inner]
                else:
                    body += [f"if {prop!r} in {v}:", f"    value = {v}[{prop!r}]", *("    " + i for i in inner)]
                continue
            test = self.child(sub, here, f"{name}_{prop}", f"{v}[{prop!r}]")
            if test != "True":
                condition = f"not {test}" if present else f"{prop!r} in {v} and not {test}"
                body += [f"if {condition}:", "    return False"]
        if not body:
            return []
        if self.is_object(schema):
            return body
        return [f"if isinstance({v}, dict):", *("    " + line for line in body)]

    @staticmethod
    def is_object(schema: dict[str, Any]) -> bool:
        return schema.get("type") == "object" or schema.get("type") == ["object"]

    def combinators(self, schema: dict[str, Any], v: str, where: str, name: str) -> list[str]:
        out: list[str] = []
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword not in schema:
                continue
            subs = schema[keyword]
            if not isinstance(subs, list) or not subs:
                raise SchemaError(f"{where}/{keyword}: must be a non-empty list")
            tests = [self.child(s, f"{where}/{keyword}/{i}", f"{name}_{keyword}_{i}", v) for i, s in enumerate(subs)]
            if keyword == "allOf":
                for test in tests:
                    if test != "True":
                        out += [f"if not {test}:", "    return False"]
            elif keyword == "anyOf":
                out += [f"if not ({' or '.join(tests)}):", "    return False"]
            else:
                out += [f"if [{', '.join(tests)}].count(True) != 1:", "    return False"]
        if "not" in schema:
            test = self.child(schema["not"], f"{where}/not", f"{name}_not", v)
            out += [f"if {test}:", "    return False"]
        if "if" in schema and ("then" in schema or "else" in schema):
            condition = self.child(schema["if"], f"{where}/if", f"{name}_if", v)
            then = self.child(schema.get("then", True), f"{where}/then", f"{name}_then", v)
            other = self.child(schema.get("else", True), f"{where}/else", f"{name}_else", v)
            if other == "True":
                out += [f"if {condition} and not {then}:", "    return False"]
            else:
                out += [f"if {condition}:", f"    if not {then}:", "        return False",
                        f"elif not {other}:", "    return False"]
        return out

    # -- values ------------------------------------------------------------

    def in_values(self, values: Any, v: str, where: str) -> str:
        if not isinstance(values, list) or not values:
            raise SchemaError(f"{where}: enum must be a non-empty list")
        if all(isinstance(x, str) for x in values):
            if len(values) == 1:
                return f"{v} == {values[0]!r}"
            consts = self.constant(f"_ENUM_{len(self.constants) + 1}", frozenset(values))
            return f"isinstance({v}, str) and {v} in {consts}"
        self.needs_equal = True
        if len(values) == 1:
            return f"_equal({v}, {values[0]!r})"
        consts = self.constant(f"_ENUM_{len(self.constants) + 1}", tuple(values))
        return f"any(_equal({v}, each) for each in {consts})"

    def constant(self, name: str, value: frozenset[Any] | tuple[Any, ...]) -> str:
        name = re.sub(r"[^0-9A-Za-z_]+", "_", name).upper()
        if isinstance(value, frozenset):
            items = sorted(value, key=repr)
            text = "frozenset({" + ", ".join(repr(x) for x in items) + "})" if items else "frozenset[str]()"
        else:
            text = "(" + ", ".join(repr(x) for x in value) + ",)"
        for existing, existing_text in self.constants.items():
            if existing_text == text:
                return existing
        self.constants[name] = text
        return name

    @staticmethod
    def integer(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SchemaError(f"{where}: must be a non-negative integer")
        return value


HELPERS = '''
def _is_integer(value: Any) -> bool:
    """jsonschema's draft 6+ integer: an int that is not a bool, or a float such as 5.0."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
'''


EQUAL = '''
def _equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: 1 is not true and 0 is not false, at any depth."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list | tuple) and isinstance(two, list | tuple):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return len(one) == len(two) and all(k in two and _equal(val, two[k]) for k, val in one.items())
    if isinstance(one, bool) or isinstance(two, bool):
        return False
    return bool(one == two)
'''


def _wrap(text: str, first: int, indent: str = "    ", width: int = 116) -> Iterator[str]:
    """Split a long frozenset({...}) literal over lines at its commas."""
    if first + len(text) <= width or not text.startswith("frozenset({"):
        yield text
        return
    items = text[len("frozenset({"):-2].split(", ")
    yield "frozenset({"
    line = indent
    for item in items:
        if len(line) + len(item) + 2 > width:
            yield line.rstrip()
            line = indent
        line += item + ", "
    yield line.rstrip()
    yield "})"


def schema_files(schema_dir: Path) -> dict[str, str]:
    """which -> file name, for every schema in schema_dir: a schema nobody compiles is a silent gap.

    which is the file name without .schema.json ("request", "release.reply", ...).
    """
    files = sorted(p.name for p in schema_dir.glob(f"*{SUFFIX}") if p.is_file())
    if not files:
        raise SchemaError(f"{schema_dir}: no *{SUFFIX} files")
    return {name.removesuffix(SUFFIX): name for name in files}


def render(schema_dir: Path) -> str:
    compiler = Compiler()
    roots: dict[str, str] = {}
    digests = []
    for which, filename in schema_files(schema_dir).items():
        raw = (schema_dir / filename).read_bytes()
        digests.append(f"#   schema/{filename}  sha256 {hashlib.sha256(raw).hexdigest()}")
        doc = json.loads(raw)
        declared = doc.get("$schema", "")
        if declared != "https://json-schema.org/draft/2020-12/schema":
            raise SchemaError(f"{filename}: $schema is {declared!r}; this compiler implements draft 2020-12")
        roots[which] = compiler.compile_document(which, doc)

    out = [
        "# Generated by scripts/gen_validator.py from:",
        *digests,
        "# DO NOT EDIT. Regenerate with `python scripts/gen_validator.py` after changing schema/;",
        "# `python scripts/gen_validator.py --check` (and tests/test_fast_validator.py) fail when stale.",
        '"""Validators compiled from schema/: the valid path, with no validator library to import.',
        "",
        "is_valid(which, instance) says whether a JSON value (as json.loads returns it) satisfies",
        "schema/<which>.schema.json, with the semantics of jsonschema's Draft202012Validator.",
        *textwrap.wrap(f"which is one of: {', '.join(roots)}.", width=100),
        "It never raises: anything unexpected (an unknown which too) answers False, and the",
        "caller then asks jsonschema.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import re",
        "from collections.abc import Callable",
        "from typing import Any",
        "",
    ]
    for pattern, const in compiler.patterns.items():
        out.append(f"{const} = re.compile({pattern!r})")
    for name, text in compiler.constants.items():
        parts = list(_wrap(text, len(name) + 3))
        out.append(f"{name} = {parts[0]}")
        out += parts[1:]
    out += ["", "", *HELPERS.strip("\n").split("\n")]
    if compiler.needs_equal:
        out += ["", "", *EQUAL.strip("\n").split("\n")]
    for fn in compiler.functions:
        out += ["", "", f"def {fn.name}(x: Any) -> bool:", f'    """{fn.where}"""']
        out += ["    " + line for line in fn.lines]
    out += [
        "",
        "",
        "VALIDATORS: dict[str, Callable[[Any], bool]] = {",
        *(f"    {which!r}: {name}," for which, name in roots.items()),
        "}",
        "",
        "",
        "def is_valid(which: str, instance: Any) -> bool:",
        '    """True when instance satisfies the schema; False when not, or when unsure (never raises)."""',
        "    try:",
        "        return VALIDATORS[which](instance) is True",
        "    except Exception:",
        "        return False",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 when the generated module is stale")
    p.add_argument("--schema-dir", type=Path, default=ROOT / "schema")
    p.add_argument("--output", type=Path, default=ROOT / OUTPUT)
    args = p.parse_args(argv)
    try:
        text = render(args.schema_dir)
    except (SchemaError, OSError, ValueError) as error:
        print(f"gen_validator: {error}", file=sys.stderr)
        return 2
    current = args.output.read_text(encoding="utf-8") if args.output.is_file() else None
    if args.check:
        if current != text:
            print(f"gen_validator: {args.output} is stale relative to {args.schema_dir}; "
                  f"run `python {GENERATOR}` and commit the result", file=sys.stderr)
            return 1
        print(f"gen_validator: {args.output} is up to date")
        return 0
    if current != text:
        args.output.write_text(text, encoding="utf-8")
        print(f"gen_validator: wrote {args.output}")
    else:
        print(f"gen_validator: {args.output} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
