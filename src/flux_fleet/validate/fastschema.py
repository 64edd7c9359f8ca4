"""A yes/no JSON Schema check compiled to closures: the fast path of schema validation.

jsonschema's validators are general (any draft, located errors, lazy ``$ref`` resolution), and
walking a schema costs an ``evolve``/``descend`` per keyword per node: for valid objects, which
are nearly all of them, that is most of a run's time. This module compiles the keywords the
schema store actually uses into nested closures that only answer "valid or not". Invalid
objects then go through jsonschema for the located errors, so every message still comes from
jsonschema; this path only decides that there is nothing to report.

Soundness over reach: a schema with any keyword not handled here compiles to None and the
caller keeps using jsonschema alone (properties are compiled on first use; one found
unsupported then makes the check answer "invalid", which hands the object to jsonschema).
Semantics follow Draft 2020-12 as jsonschema implements it (``format`` is an annotation;
booleans are neither integers nor numbers; ``const``/``enum`` tell ``True`` from ``1``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never constrain an instance (annotations, or handled by other checks).
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "$defs", "definitions", "title", "description", "default",
    "examples", "format", "readOnly", "writeOnly", "deprecated",
    "x-kubernetes-validations", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string", "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
    "x-kubernetes-patch-strategy", "x-kubernetes-patch-merge-key",
    "x-kubernetes-group-version-kind",
})


_OBJECT = _ANNOTATIONS | {"type", "properties", "additionalProperties", "required"}


class Unsupported(Exception):
    """The schema uses something this compiler does not handle: use jsonschema alone."""


def _is_integer(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (
        isinstance(v, float) and v.is_integer())


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _equal(a: Any, b: Any) -> bool:
    """jsonschema's equality: bools are not numbers, containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return bool(a == b)


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, target: str) -> Check:
        if target in self.refs:
            return self.refs[target]
        if not target.startswith("#/"):
            raise Unsupported(f"$ref {target}")
        node: Any = self.root
        for part in target[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise Unsupported(f"$ref {target}")
            node = node[part]
        slot: list[Check] = []
        self.refs[target] = lambda v: slot[0](v)  # recursive schemas: resolved below
        slot.append(self.compile(node))
        return self.refs[target]

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        if schema.get("type") == "object" and "properties" in schema and set(schema) <= _OBJECT:
            return self.object(schema)  # the common case, in one closure
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _ANNOTATIONS or key in ("properties", "additionalProperties"):
                continue
            checks.append(self.keyword(key, value))
        if "properties" in schema or "additionalProperties" in schema:
            checks.append(self.members(schema.get("properties") or {},
                                       schema.get("additionalProperties", True)))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return _all(tuple(checks))

    def object(self, schema: dict[str, Any]) -> Check:
        """type: object with properties (additionalProperties, required): one closure."""
        members = self.members(schema["properties"], schema.get("additionalProperties", True))
        required = tuple(schema.get("required") or ())

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return False
            for name in required:
                if name not in v:
                    return False
            return members(v)

        return check

    def members(self, properties: dict[str, Any], additional: Any) -> Check:
        """Each property's check is compiled when an instance first has that property: big
        schemas (a PodSpec) cost only the parts that manifests use."""
        props: dict[str, Check] = {}
        extra = None if additional is True else self.compile(additional)

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, item in v.items():
                sub = props.get(key)
                if sub is None and key in properties:
                    sub = props[key] = self.compile(properties[key])
                if sub is not None:
                    if not sub(item):
                        return False
                elif extra is not None and not extra(item):
                    return False
            return True

        return check

    def keyword(self, key: str, value: Any) -> Check:
        if key == "$ref":
            return self.ref(value)
        if key == "type":
            names = [value] if isinstance(value, str) else list(value)
            try:
                tests = [_TYPES[n] for n in names]
            except KeyError as exc:
                raise Unsupported(f"type {value!r}") from exc
            if len(tests) == 1:
                return tests[0]
            return lambda v: any(t(v) for t in tests)
        if key == "required":
            names = tuple(value)
            return lambda v: not isinstance(v, dict) or all(n in v for n in names)
        if key == "items":
            item = self.compile(value)

            def items(v: Any) -> bool:
                if not isinstance(v, list):
                    return True
                for x in v:  # noqa: SIM110 - a loop is faster than all(genexpr) here
                    if not item(x):
                        return False
                return True

            return items
        if key == "enum":
            options = list(value)
            return lambda v: any(_equal(v, o) for o in options)
        if key == "const":
            return lambda v: _equal(v, value)
        if key == "pattern":
            search = re.compile(value).search
            return lambda v: not isinstance(v, str) or search(v) is not None
        if key in ("minLength", "maxLength", "minItems", "maxItems"):
            kind = str if key.endswith("Length") else list
            bound = int(value)
            if key.startswith("min"):
                return lambda v: not isinstance(v, kind) or len(v) >= bound
            return lambda v: not isinstance(v, kind) or len(v) <= bound
        if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            return _bound(key, value)
        if key in ("anyOf", "oneOf", "allOf"):
            subs = [self.compile(s) for s in value]
            if key == "anyOf":
                return lambda v: any(s(v) for s in subs)
            if key == "allOf":
                return lambda v: all(s(v) for s in subs)
            return lambda v: sum(1 for s in subs if s(v)) == 1
        if key == "not":
            sub = self.compile(value)
            return lambda v: not sub(v)
        raise Unsupported(f"keyword {key}")


def _all(checks: tuple[Check, ...]) -> Check:
    def check(v: Any) -> bool:
        for c in checks:  # noqa: SIM110 - a loop is faster than all(genexpr) here
            if not c(v):
                return False
        return True

    return check


def _bound(key: str, limit: Any) -> Check:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if key == "minimum":
        return lambda v: not number(v) or v >= limit
    if key == "maximum":
        return lambda v: not number(v) or v <= limit
    if key == "exclusiveMinimum":
        return lambda v: not number(v) or v > limit
    return lambda v: not number(v) or v < limit


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A function telling whether an instance is valid, or None when the schema is unsupported."""
    try:
        check = _Compiler(schema).compile(schema)
    except (Unsupported, re.error, TypeError, ValueError):
        return None

    def safe(instance: Any) -> bool:
        try:
            return check(instance)
        except (Unsupported, re.error, TypeError, ValueError):
            return False  # a part compiled late is unsupported: jsonschema decides
    return safe
