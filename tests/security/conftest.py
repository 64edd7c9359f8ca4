"""Fixtures of the security suite: the default rendered fleet and tenant repo (rendered once),
fixture repos built from them by a small overlay, and `flux-fleet validate` run through the CLI.

An overlay maps a repository path to the file's new text, to None (delete it), or to an
``(old, new)`` edit of the rendered file; an edit whose ``old`` text is missing fails the test
(a fixture that silently stopped changing anything would pass for the wrong reason).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from flux_fleet.cli import main

from .policy_cel import PolicySet

Overlay = Mapping[str, "str | tuple[str, str] | None"]
TENANT = "dev-team"


@dataclass(frozen=True)
class Report:
    """What `flux-fleet validate --format json` said about one repository."""

    code: int
    findings: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def where(self) -> set[tuple[str, str, int]]:
        return {(f["rule"], f["file"], f["line"]) for f in self.findings}

    def rules(self) -> set[str]:
        return {f["rule"] for f in self.findings}


def apply_overlay(base: Path, dest: Path, overlay: Overlay) -> Path:
    """A copy of ``base`` at ``dest`` with the overlay applied."""
    shutil.copytree(base, dest, symlinks=True)
    for rel, change in overlay.items():
        path = dest / rel
        if change is None:
            path.unlink()
        elif isinstance(change, tuple):
            old, new = change
            text = path.read_text(encoding="utf-8")
            assert old in text, f"fixture edit of {rel} does not apply: {old!r} not found"
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(change, encoding="utf-8")
    return dest


def validate(repo: Path, *args: str) -> Report:
    """`flux-fleet validate REPO --format json` through cli.main (never a crash)."""
    out = repo.parent / f"{repo.name}.report.json"
    code = main(["validate", str(repo), "--format", "json", "-o", str(out), *args])
    assert code in (0, 1), f"validate exited {code} (usage error or crash) on {repo}"
    doc = json.loads(out.read_text(encoding="utf-8"))
    return Report(code, doc["findings"], doc["skipped"])


def line_of(path: Path, marker: str, after: str = "") -> int:
    """1-based line where ``marker`` first occurs in the file (after the text ``after``)."""
    text = path.read_text(encoding="utf-8")
    start = text.index(after) if after else 0
    assert marker in text[start:], f"{marker!r} not in {path} after {after!r}"
    return text[: text.index(marker, start)].count("\n") + 1


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


@pytest.fixture(scope="session")
def default_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`flux-fleet new --defaults`: the platform repo every platform fixture starts from."""
    dest = tmp_path_factory.mktemp("default") / "fleet"
    assert main(["new", str(dest), "--defaults"]) == 0
    return dest


@pytest.fixture(scope="session")
def default_operator_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default platform repo rendered with bootstrap: flux-operator (lockdown fixtures)."""
    dest = tmp_path_factory.mktemp("default") / "operator"
    assert main(["new", str(dest), "--defaults", "--data", "bootstrap=flux-operator"]) == 0
    return dest


@pytest.fixture(scope="session")
def default_tenant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default tenant repo (tenant dev-team) every tenant fixture starts from."""
    dest = tmp_path_factory.mktemp("default") / "tenant"
    assert main(["new", str(dest), "--defaults", "--data", "repo_kind=tenant"]) == 0
    return dest


@pytest.fixture(scope="session")
def policies(default_fleet: Path) -> PolicySet:
    """The admission policies the default fleet installs on every cluster."""
    found = PolicySet.from_dir(default_fleet / "policies" / "base")
    assert len(found) >= 4, "the default fleet should render its admission policies"
    return found


@pytest.fixture(scope="session")
def namespaces(default_fleet: Path) -> dict[str, dict[str, Any]]:
    """The tenant Namespace objects the platform creates (their labels select the policies)."""
    docs = documents(default_fleet / "tenants" / "base" / TENANT / "rbac.yaml")
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Namespace"}
