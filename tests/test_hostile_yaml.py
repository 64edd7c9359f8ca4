"""Hostile YAML: whatever bytes a repository holds, the loader and `flux-fleet validate` answer
with findings (file:line, what is wrong), never a crash and never a hang — alias expansion,
nesting depth and file size are bounded. Property-based, with a fixed budget."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from hang_guard import finishes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux_fleet.cli import main
from flux_fleet.validate.loader import DEFAULT_LIMITS, LoadLimits, load_text

TOKENS = ("\n", " ", "  ", "- ", ": ", "---\n", "...\n", "&a ", "*a", "&b ", "*b", "<<: ",
          "[", "]", "{", "}", ",", "'", '"', "#", "!!str ", "!!int ", "!tag ", "? ", "|\n",
          ">-\n", "\t", "%YAML 1.1\n", "apiVersion: v1\n", "kind: ConfigMap\n", "metadata:\n",
          "name: x\n", "key", "0x1F", "1e3", "yes", "~", "\ufeff", "\x00", "\xff", "<<<<<<< ",
          "=======\n", ">>>>>>> ")
yaml_like = st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=60).map("".join)
raw_bytes = st.binary(max_size=300)


def bomb(width: int, depth: int) -> str:
    """A 'billion laughs' document: width**depth values through nested aliases."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for i in range(1, depth + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=2000)
@given(text=yaml_like | raw_bytes.map(lambda b: b.decode("latin-1")))
def test_loader_never_raises_on_any_text(text: str) -> None:
    documents, findings = load_text(text, "hostile.yaml")
    assert all(f.file == "hostile.yaml" and f.line >= 1 and f.rule.startswith("FF1")
               for f in findings)
    assert all(d.file == "hostile.yaml" for d in documents)


@settings(max_examples=200, deadline=2000)
@given(data=raw_bytes)
def test_loader_never_raises_on_any_bytes(data: bytes) -> None:
    _, findings = load_text(data, "bytes.yaml")
    assert all(f.rule.startswith("FF1") for f in findings)


@settings(max_examples=40, deadline=3000)
@given(width=st.integers(2, 12), depth=st.integers(1, 12))
def test_alias_expansion_is_bounded(width: int, depth: int) -> None:
    documents, findings = finishes(load_text, bomb(width, depth), "bomb.yaml")
    expanded = sum(width ** i for i in range(1, depth + 2))
    if expanded > 2 * DEFAULT_LIMITS.max_alias_nodes:
        assert [f.rule for f in findings] == ["FF106"]
        assert "alias" in findings[0].message
    elif not findings:
        assert len(documents) == 1


@settings(max_examples=25, deadline=3000)
@given(depth=st.integers(1, 100_000), opener=st.sampled_from(["[", "{a: ", "- "]))
def test_nesting_is_bounded(depth: int, opener: str) -> None:
    text = opener * depth if opener != "- " else "".join(
        "  " * i + "- " + "\n" for i in range(min(depth, 3000)))
    _, findings = finishes(load_text, text, "deep.yaml")
    if depth > DEFAULT_LIMITS.max_depth and opener != "- ":
        assert {f.rule for f in findings} & {"FF106", "FF101"}


def test_deep_nesting_is_reported_with_its_line() -> None:
    text = "a:\n  " + "[" * 1000 + "]" * 1000 + "\n"
    _, findings = load_text(text, "deep.yaml")
    assert [(f.rule, f.line) for f in findings] == [("FF106", 2)]
    assert "deeper than" in findings[0].message


@settings(max_examples=20, deadline=2000)
@given(size=st.integers(1, 4096))
def test_size_limit_is_a_clear_finding(size: int) -> None:
    limits = LoadLimits(max_file_bytes=1024)
    _, findings = load_text("a: " + "x" * size + "\n", "big.yaml", limits)
    too_big = [f for f in findings if f.rule == "FF105"]
    assert bool(too_big) == (size + 4 > 1024)
    if too_big:
        assert "limit" in too_big[0].message


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=yaml_like, bombed=st.booleans())
def test_validate_cli_reports_hostile_files_without_crashing(text: str, bombed: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        (repo / "apps").mkdir(parents=True)
        (repo / "apps" / "hostile.yaml").write_text(text, encoding="utf-8", errors="replace")
        if bombed:
            (repo / "apps" / "bomb.yaml").write_text(bomb(10, 9))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = finishes(main, ["validate", str(repo), "--format", "json"])
        assert code in (0, 1), err.getvalue()
        assert "Traceback" not in out.getvalue() + err.getvalue()
        if bombed:
            assert '"FF106"' in out.getvalue()


def test_the_hang_guard_fails_a_call_that_does_not_return() -> None:
    import threading

    import pytest

    never = threading.Event()
    with pytest.raises(AssertionError, match="did not finish"):
        finishes(never.wait, within=0.05)
    never.set()
