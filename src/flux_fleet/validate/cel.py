"""CEL rules of CRDs (``x-kubernetes-validations``), evaluated offline with cel-python.

The API server evaluates each rule with ``self`` bound to the node it sits on, only where that
node is present, and skips transition rules (those using ``oldSelf``) on create. This module
does the same on manifests: rules are found once per schema, compiled once per store, and an
error while evaluating is reported as "could not check", never raised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flux_fleet.model import Path
from flux_fleet.validate.cel_subset import Defer, compile_rule

EACH = None  # a path step meaning "every list item / every map value"
_SELF = re.compile(r"\bself\b(\.[A-Za-z_][A-Za-z0-9_]*)?")
_MEMO_LIMIT = 50_000
SchemaPath = tuple[str | None, ...]


class CelError(Exception):
    """A rule that cannot be compiled or evaluated on this value (reported as skipped)."""


@dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` entry and the schema path of the node it guards."""

    where: SchemaPath  # property names, EACH for list items / map values
    rule: str
    message: str

    @property
    def is_transition(self) -> bool:
        """Transition rules compare with the stored object; there is none on create."""
        return "oldSelf" in self.rule


def collect_rules(schema: dict[str, Any]) -> tuple[CelRule, ...]:
    """Every CEL rule of a (CRD-generated) schema, in schema order.

    ``$ref``s are not followed: rules live in the CRD part of the file, which has none.
    """
    found: list[CelRule] = []

    def walk(node: Any, where: SchemaPath) -> None:
        if not isinstance(node, dict):
            return
        for entry in node.get("x-kubernetes-validations") or ():
            if isinstance(entry, dict) and isinstance(entry.get("rule"), str):
                message = entry.get("message") or f"failed rule: {entry['rule']}"
                found.append(CelRule(where, entry["rule"], str(message)))
        for name, sub in sorted((node.get("properties") or {}).items()):
            walk(sub, (*where, name))
        if isinstance(node.get("items"), dict):
            walk(node["items"], (*where, EACH))
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], (*where, EACH))

    walk(schema, ())
    return tuple(found)


def nodes_at(data: Any, where: SchemaPath) -> Iterator[tuple[Path, Any]]:
    """The instance nodes a schema path points at, with their concrete paths (absent: none)."""

    def walk(node: Any, rest: SchemaPath, path: Path) -> Iterator[tuple[Path, Any]]:
        if not rest:
            yield path, node
            return
        step, tail = rest[0], rest[1:]
        if step is EACH:
            if isinstance(node, list):
                for i, item in enumerate(node):
                    yield from walk(item, tail, (*path, i))
            elif isinstance(node, dict):
                for key, item in node.items():
                    yield from walk(item, tail, (*path, key))
        elif isinstance(node, dict) and step in node and node[step] is not None:
            yield from walk(node[step], tail, (*path, step))

    return walk(data, where, ())


class CelEvaluator:
    """Compiles each rule once (per evaluator) and evaluates it against a node.

    Rules in the common subset (``flux_fleet.validate.cel_subset``) run as Python closures.
    The rest, and
    values the subset defers, go to cel-python, a tree-walking interpreter (~0.4 ms a rule), so
    its results are memoised on the part of the node the rule can see: a rule that only reads
    ``self.chart`` and ``self.chartRef`` gets the same answer for every HelmRelease with the
    same two fields.
    """

    def __init__(self) -> None:
        self._env: Any = None  # built on first use: cel-python builds its parser then (~0.1 s)
        self._programs: dict[str, Any] = {}
        self._fast: dict[str, Any] = {}
        self._fields: dict[str, frozenset[str] | None] = {}
        self._memo: dict[tuple[str, str], bool | str] = {}

    def _program(self, rule: str) -> Any:
        program = self._programs.get(rule)
        if program is None:
            if self._env is None:
                import celpy  # ~50 ms to import: only when a rule needs more than the subset

                self._env = celpy.Environment()
            try:
                program = self._env.program(self._env.compile(rule))
            except Exception as exc:  # any parse failure: "cannot check"
                raise CelError(f"cannot compile rule {rule!r}: {exc}") from exc
            self._programs[rule] = program
        return program

    def _visible(self, rule: str, value: Any) -> Any:
        """The part of ``value`` the rule reads: its ``self.<field>`` keys, or all of it."""
        if rule not in self._fields:
            found = [m.group(1) for m in _SELF.finditer(rule)]
            self._fields[rule] = (frozenset(f[1:] for f in found)
                                  if found and all(found) else None)
        fields = self._fields[rule]
        if fields is None or not isinstance(value, dict):
            return value
        return {k: value[k] for k in fields if k in value}

    def holds(self, rule: str, value: Any) -> bool:
        """True when the rule holds for ``self = value``; CelError when it cannot be decided."""
        fast = self._fast.get(rule, False)
        if fast is False:
            fast = self._fast[rule] = compile_rule(rule)
        if fast is not None:
            try:
                return fast(value)
            except (Defer, RecursionError):
                pass
        visible = self._visible(rule, value)
        try:
            key = (rule, json.dumps(visible, sort_keys=True, default=str))
        except (RecursionError, ValueError, TypeError) as exc:
            raise CelError("value cannot be evaluated (too deep, or keys of mixed types)") from exc
        known = self._memo.get(key)
        if known is None:
            known = self._evaluate(self._program(rule), visible)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = known
        if isinstance(known, str):
            raise CelError(known)
        return known

    @staticmethod
    def _evaluate(program: Any, value: Any) -> bool | str:
        """The rule's verdict, or why it could not be evaluated."""
        import celpy

        try:
            result = program.evaluate({"self": celpy.json_to_cel(value)})
        except Exception as exc:  # celpy raises unrelated types
            return _explain(exc)
        if isinstance(result, celpy.CELEvalError):
            return _explain(result)
        if not isinstance(result, (bool, celpy.celtypes.BoolType)):
            return f"rule returned {type(result).__name__}, not a bool"
        return bool(result)


def _explain(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    return str(args[0]) if args else type(exc).__name__
