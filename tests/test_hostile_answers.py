"""Hostile answers to `flux-fleet new`: whatever a user (or a script) passes as --data, the CLI
answers with exit 0 or a clear usage error (2), never a traceback; it never writes outside DEST;
and when it refuses the answers, no DEST is left behind. Property-based, with a fixed budget."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux_fleet.cli import main
from flux_fleet.errors import UserError
from flux_fleet.scaffold import answers
from flux_fleet.scaffold.render import prevalidate

QUESTIONS = ("fleet_name", "repo_kind", "git_provider", "repo_url", "branch", "flux_version",
             "clusters", "tenants", "tenant_name", "allowed_source_prefixes", "sops",
             "sops_age_recipients", "template_url", "policies")
NASTY = ("../", "..", "/", "~", "\\", "\x00", "\n", "{{", "}}", "{%", "%}", "$(", "`", "*",
         ":", "- ", "[", "]", "{", "}", "&a", "*a", "!!python/object:os.system", " ", "é",
         "\u202e", "x" * 70)
names = st.lists(st.sampled_from(NASTY) | st.text(max_size=6), max_size=4).map("".join)
yaml_lists = st.sampled_from([
    "[{name: ../../escape}]", "[{name: staging, env: ../x}]", "[{name: /abs}]",
    "- name: a\n  namespaces: [../b]", "[{name: t, paths: {staging: ../../etc}}]",
    "[{name: t, repo_url: 'file:///etc/passwd'}]", "{a: b}", "[1, 2, 3]", "&a [*a]",
    "[{name: x}, {name: x}]", "!!python/object/apply:os.system [true]", "[",
])
values = names | yaml_lists


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(st.sampled_from(QUESTIONS), values, min_size=1, max_size=3))
def test_new_never_crashes_nor_writes_outside_dest(data: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outside = Path(tmp)
        parent = outside / "parent"
        parent.mkdir()
        dest = parent / "dest"
        args = ["new", str(dest), "--defaults"]
        for key, value in data.items():
            args += ["--data", f"{key}={value}"]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                contextlib.chdir(parent) if hasattr(contextlib, "chdir") else \
                contextlib.nullcontext():
            code = main(args)
        text = out.getvalue() + err.getvalue()
        assert code in (0, 2), text
        assert "Traceback" not in text and "internal error" not in text, text
        assert {p.name for p in parent.iterdir()} <= {"dest"}, "wrote next to DEST"
        stray = {p for p in tree(outside)
                 if p not in ("parent", "parent/dest") and not p.startswith("parent/dest/")}
        assert stray == set(), "wrote outside DEST"
        if code == 2:
            assert not dest.exists(), "a refused render left DEST behind"
            assert "error" in text.lower()


@settings(max_examples=200, deadline=1000)
@given(data=st.dictionaries(st.sampled_from(answers.ANSWER_KEYS),
                            st.recursive(st.none() | st.booleans() | st.integers() | names,
                                         lambda c: st.lists(c, max_size=3)
                                         | st.dictionaries(names, c, max_size=3), max_leaves=8),
                            max_size=6))
def test_answer_validation_reports_problems_never_raises(data: dict[str, object]) -> None:
    problems = answers.validate(data)
    assert all(isinstance(p, str) and p for p in problems)


@settings(max_examples=60, deadline=None)
@given(data=st.dictionaries(st.sampled_from(QUESTIONS), values, min_size=1, max_size=3))
def test_prevalidation_fails_only_with_a_user_error(data: dict[str, str]) -> None:
    try:
        resolved = prevalidate(data)
    except UserError as err:
        assert err.problems or str(err)
    else:
        assert set(data) <= set(resolved)


@pytest.mark.parametrize("name", ["../../outside", "/tmp/abs", "a/../../b", ".."])
def test_path_like_cluster_and_tenant_names_are_refused(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "parent" / "dest"
    dest.parent.mkdir()
    before = set(os.listdir(tmp_path))
    code = main(["new", str(dest), "--defaults", "--data",
                 f"clusters=[{{name: '{name}'}}]", "--data", f"tenants=[{{name: '{name}'}}]"])
    assert code == 2
    assert not dest.exists()
    assert set(os.listdir(tmp_path)) == before


def test_a_platform_fleet_refuses_a_tenant_name_copier_could_not_carry(tmp_path: Path) -> None:
    """Found by the property test above on CI: an astral character in tenant_name broke a
    computed answer inside Copier (exit 3); it is an answer error, reported before rendering."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["new", str(tmp_path / "dest"), "--defaults", "--data",
                     "tenant_name=\U00010000"])
    assert code == 2 and "tenant_name" in err.getvalue()
    assert not (tmp_path / "dest").exists()
