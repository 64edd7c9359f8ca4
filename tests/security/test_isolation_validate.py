"""Layer 2 of issue 10: `flux-fleet validate` catches each isolation vector statically.

One small fixture per vector: the default rendered fleet or tenant repo (rendered once per
session, conftest) plus an overlay that opens the hole; the rule must fire at the file and line
that opens it, and the fixed variant must add nothing to what the default repo reports.
docs/security.md ("Layer 2: what validate catches") lists the same vectors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import kustomize_available

from .conftest import Overlay, Report, apply_overlay, line_of, validate
from .isolation_vectors import CASES, Case

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="kustomize/kubectl not on PATH")

_reports: dict[tuple[str, str, tuple[str, ...]], tuple[Path, Report]] = {}


@pytest.fixture(scope="module")
def bases(default_fleet: Path, default_tenant: Path,
          default_operator_fleet: Path) -> dict[str, Path]:
    return {"platform": default_fleet, "tenant": default_tenant,
            "operator": default_operator_fleet}


def report(bases: dict[str, Path], tmp: pytest.TempPathFactory, case: Case,
           overlay: Overlay) -> tuple[Path, Report]:
    """Validate one fixture repository (each distinct overlay once per module)."""
    key = (case.repo, repr(sorted(overlay.items())), case.args)
    if key not in _reports:
        dest = apply_overlay(bases[case.repo], tmp.mktemp(case.id) / case.repo, overlay)
        tenant = ("--tenant",) if case.repo == "tenant" else ()
        args = [a.replace("{platform}", str(bases["platform"])) for a in case.args]
        _reports[key] = dest, validate(dest, *tenant, *args)
    return _reports[key]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vector_is_caught_at_its_line(case: Case, bases: dict[str, Path],
                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    repo, bad = report(bases, tmp_path_factory, case, case.bad)
    line = line_of(repo / case.file, case.at, case.after)
    hits = [f for f in bad.findings
            if f["rule"] == case.rule and f["file"] == case.file and f["line"] == line]
    assert hits, (case.rule, case.file, line, bad.findings)
    if case.severity:
        assert hits[0]["severity"] == case.severity, hits[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixed_variant_adds_nothing(case: Case, bases: dict[str, Path],
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    _, default = report(bases, tmp_path_factory, case, {})
    _, good = report(bases, tmp_path_factory, case, case.good)
    baseline = {(f["rule"], f["message"]) for f in default.findings}
    extra = [f for f in good.findings if (f["rule"], f["message"]) not in baseline]
    assert not extra, extra
