"""The fast CEL subset gives cel-python's verdict on every value it decides.

The subset exists for speed only, so the evidence is differential: every shipped rule it
compiles is evaluated by both on generated objects (fields present, absent, of the wrong type,
holding the rule's own literals), and wherever the subset answers, cel-python must agree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import celpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux_fleet.validate.cel import CelEvaluator
from flux_fleet.validate.cel_subset import Defer, compile_rule

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def _shipped_rules() -> list[str]:
    rules: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for entry in node.get("x-kubernetes-validations") or ():
                if isinstance(entry, dict) and isinstance(entry.get("rule"), str):
                    rules.add(entry["rule"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in SCHEMAS.rglob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return sorted(rules)


RULES = _shipped_rules()
COMPILED = [r for r in RULES if compile_rule(r) is not None]


def _celpy(rule: str, value: Any) -> bool | None:
    env = celpy.Environment()
    try:
        result = env.program(env.compile(rule)).evaluate({"self": celpy.json_to_cel(value)})
    except Exception:
        return None
    return bool(result) if isinstance(result, (bool, celpy.celtypes.BoolType)) else None


def _values(rule: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects shaped by the rule: its field paths filled with its literals and wrong types."""
    paths = [m.group(0).split(".")[1:] for m in re.finditer(r"self(?:\.\w+)+", rule)]
    literals = re.findall(r"'([^']*)'", rule)
    leaf = st.one_of(
        st.sampled_from(literals or ["x"]), st.text(max_size=3), st.integers(-1, 3),
        st.booleans(), st.none(), st.lists(st.text(max_size=2), max_size=2),
        st.dictionaries(st.sampled_from(["a", "name"]), st.text(max_size=2), max_size=2))

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for steps in paths:
            if draw(st.booleans()):
                continue  # leave this path absent
            node = obj
            for step in steps[:-1]:
                child = node.get(step)
                if not isinstance(child, dict):
                    child = node[step] = {}
                node = child
            node[steps[-1]] = draw(leaf)
        return obj

    return build()


def test_nearly_every_shipped_rule_is_in_the_subset():
    assert len(COMPILED) >= len(RULES) - 2, sorted(set(RULES) - set(COMPILED))


@pytest.mark.parametrize("rule", COMPILED)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_subset_agrees_with_cel_python(rule: str, data: Any) -> None:
    value = data.draw(_values(rule))
    program = compile_rule(rule)
    assert program is not None
    try:
        verdict = program(value)
    except Defer:
        return  # cel-python decides these
    assert verdict is _celpy(rule, value), f"{rule} on {value}"


def test_a_typical_git_repository_never_reaches_cel_python(monkeypatch):
    rule = next(r for r in RULES if r.startswith("!has(self.serviceAccountName) || (has("))
    evaluator = CelEvaluator()
    monkeypatch.setattr(evaluator, "_program", lambda _rule: pytest.fail("cel-python used"))
    assert evaluator.holds(rule, {"url": "https://github.com/org/fleet", "interval": "1m"})
    assert not evaluator.holds(rule, {"serviceAccountName": "sa", "provider": "generic"})


def test_values_the_subset_defers_still_get_a_verdict():
    rule = "self.type == 'github' || !has(self.commitStatusExpr)"
    evaluator = CelEvaluator()
    with pytest.raises(Defer):
        compile_rule(rule)({"commitStatusExpr": "x"})  # type: ignore[misc]  # no type
    assert evaluator.holds(rule, {"type": "github", "commitStatusExpr": "x"})


@pytest.mark.parametrize("rule", [
    "self.artifacts.all(a, a.name.matches('^x$'))",
    "self.x in ['a', 'b']",
    "has(self)",
    "self.x == 'a\\'b'",
    "size(self.x) > 1.5",
    "self.x + 1 == 2",
])
def test_rules_outside_the_subset_do_not_compile(rule):
    assert compile_rule(rule) is None
