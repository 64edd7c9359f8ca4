"""The small part of CEL that CRD rules mostly use, compiled to plain Python closures.

cel-python parses a rule with lark (about 2 ms) and walks the tree on every evaluation (about
0.4 ms): on a small fleet one rule costs more than parsing every file. Flux's rules are nearly
all of one shape: ``has(self.a.b)``, ``self.a == 'x'``, ``size(self.a) > 0``, joined with
``!``, ``&&``, ``||`` and brackets. Those compile here into closures.

Only what CEL defines without surprises is decided here: a rule that reads a missing field,
compares values of different types or takes ``size`` of a scalar raises ``Defer``, and the
caller asks cel-python, so verdicts are cel-python's. As in CEL, ``true || <anything>`` is
true and ``false && <anything>`` is false whichever side is evaluated first. Rules outside the
subset do not compile (``compile_rule`` returns None) and always go to cel-python.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Program = Callable[[Any], Any]


class Defer(Exception):
    """This value needs the full CEL implementation (an error, or a type this subset skips)."""


_TOKEN = re.compile(
    r"\s*(?:(?P<op>\|\||&&|==|!=|>=|<=|[()!.<>])|(?P<str>'[^'\\]*'|\"[^\"\\]*\")"
    r"|(?P<int>\d+)(?![\w.])|(?P<name>[A-Za-z_][A-Za-z0-9_]*))")
_RELATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}
_RESERVED = frozenset({"true", "false", "null", "in", "has", "size", "self"})


class _Unsupported(Exception):
    """The rule uses CEL beyond this subset."""


def _tokens(rule: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    rule = rule.rstrip()
    while pos < len(rule):
        match = _TOKEN.match(rule, pos)
        if match is None or match.end() == pos:
            raise _Unsupported(rule[pos:])
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise _Unsupported("unexpected end")
        token = self.tokens[self.at]
        if want is not None and token[1] != want:
            raise _Unsupported(f"expected {want!r}")
        self.at += 1
        return token

    def expr(self) -> Program:
        return self.joined("||", self.conjunction, _or)

    def conjunction(self) -> Program:
        return self.joined("&&", self.unary, _and)

    def joined(self, op: str, operand: Callable[[], Program],
               join: Callable[[Program, Program], Program]) -> Program:
        """``operand (op operand)*``, left-associative."""
        left = operand()
        while self.peek() == op:
            self.take()
            left = join(left, operand())
        return left

    def unary(self) -> Program:
        if self.peek() == "!":
            self.take()
            return _not(self.unary())
        left = self.atom()
        op = self.peek()
        if op in _RELATIONS:
            self.take()
            return _relation(op, left, self.atom())
        return left

    def atom(self) -> Program:
        kind, text = self.take()
        if text == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if text in ("has", "size"):
            self.take("(")
            steps = self.selector()
            self.take(")")
            if text == "has":
                if not steps:
                    raise _Unsupported("has(self)")
                return _has(steps)
            return _size(steps)
        if text == "self":
            self.at -= 1
            return _field(self.selector())
        if kind == "str":
            value = text[1:-1]
            return lambda _self: value
        if kind == "int":
            number = int(text)
            return lambda _self: number
        if text in ("true", "false"):
            flag = text == "true"
            return lambda _self: flag
        raise _Unsupported(text)

    def selector(self) -> tuple[str, ...]:
        self.take("self")
        steps: list[str] = []
        while self.peek() == ".":
            self.take()
            kind, name = self.take()
            if kind != "name" or name in _RESERVED:
                raise _Unsupported(name)
            steps.append(name)
        return tuple(steps)


def _lookup(value: Any, steps: tuple[str, ...]) -> Any:
    for step in steps:
        if not isinstance(value, dict) or step not in value:
            raise Defer(f"no such key: {step}")
        value = value[step]
    return value


def _field(steps: tuple[str, ...]) -> Program:
    def run(self_: Any) -> Any:
        value = _lookup(self_, steps)
        if value is None or isinstance(value, float):
            raise Defer("null or double value")
        return value
    return run


def _has(steps: tuple[str, ...]) -> Program:
    parent, last = steps[:-1], steps[-1]

    def run(self_: Any) -> bool:
        node = _lookup(self_, parent)
        if not isinstance(node, dict):
            raise Defer("has() on a value that is not an object")
        return last in node
    return run


def _size(steps: tuple[str, ...]) -> Program:
    def run(self_: Any) -> int:
        value = _lookup(self_, steps)
        if not isinstance(value, (str, list, dict)):
            raise Defer("size() of a scalar")
        return len(value)
    return run


def _kind(value: Any) -> type:
    return bool if isinstance(value, bool) else int if isinstance(value, int) else type(value)


def _relation(op: str, left: Program, right: Program) -> Program:
    compare = _RELATIONS[op]
    ordered = op not in ("==", "!=")

    def run(self_: Any) -> bool:
        a, b = left(self_), right(self_)
        kind = _kind(a)
        if kind is not _kind(b) or kind not in (str, int, bool) or (ordered and kind is bool):
            raise Defer("operands of different or unsupported types")
        return compare(a, b)
    return run


def _boolean(program: Program, self_: Any) -> bool:
    value = program(self_)
    if not isinstance(value, bool):
        raise Defer("not a bool")
    return value


def _not(inner: Program) -> Program:
    return lambda self_: not _boolean(inner, self_)


def _or(left: Program, right: Program) -> Program:
    def run(self_: Any) -> bool:
        try:
            if _boolean(left, self_):
                return True
        except Defer:
            if _boolean(right, self_):
                return True  # true || error is true in CEL
            raise
        return _boolean(right, self_)
    return run


def _and(left: Program, right: Program) -> Program:
    def run(self_: Any) -> bool:
        try:
            if not _boolean(left, self_):
                return False
        except Defer:
            if not _boolean(right, self_):
                return False  # false && error is false in CEL
            raise
        return _boolean(right, self_)
    return run


def compile_rule(rule: str) -> Program | None:
    """A closure deciding ``rule`` for ``self`` (or raising Defer); None outside the subset."""
    try:
        parser = _Parser(_tokens(rule))
        program = parser.expr()
        if parser.peek() is not None:
            raise _Unsupported("trailing input")
    except _Unsupported:
        return None
    return lambda self_: _boolean(program, self_)
