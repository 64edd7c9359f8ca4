"""A tenant cannot escape soft multi-tenancy unnoticed: each known escape, written into the
default fleet or tenant repo, is caught by `flux-fleet validate` at the file and line that opens
it, and — where an admission policy guards it — denied on the cluster by the policies the fleet
renders (their CEL evaluated offline). The fix of every escape validates clean, and so do the
default repos themselves: the catalogue has no false positives.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, kustomize_available

from flux_fleet.validate import available_rules
from flux_fleet.validate.kustomize import build as kustomize_build

from .conftest import TENANT, Report, apply_overlay, documents, line_of, validate
from .isolation_vectors import CASES
from .policy_cel import PolicySet
from .vectors import VECTORS, Vector

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="kustomize/kubectl not on PATH")

BY_ID = {v.id: v for v in VECTORS}
_reports: dict[tuple[str, str], Report] = {}


def _key(repo: str, overlay: Any) -> tuple[str, str]:
    return repo, repr(sorted(overlay.items()))


@pytest.fixture(scope="module")
def repo_of(default_fleet: Path, default_tenant: Path, default_operator_fleet: Path,
            tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Materialise (repo kind, overlay) as a fixture repository under tmp."""
    bases = {"platform": default_fleet, "tenant": default_tenant,
             "operator": default_operator_fleet}

    def make(vector: Vector, overlay: Any, name: str) -> Path:
        base = bases[vector.repo]
        dest = tmp_path_factory.mktemp(name) / vector.repo
        return apply_overlay(base, dest, overlay)

    return make


def check(repo: Path, vector: Vector, overlay: Any) -> Report:
    """Validate once per distinct fixture (fixes often equal the default repo)."""
    key = _key(vector.repo, overlay)
    if key not in _reports:
        _reports[key] = validate(repo, *(("--tenant",) if vector.repo == "tenant" else ()))
    return _reports[key]


def test_the_catalogue_covers_every_tenancy_rule() -> None:
    tenancy = {code for code in available_rules() if code.startswith("FF5")}
    caught = {v.rule for v in VECTORS} | {c.rule for c in CASES}  # + layer 2's vectors
    assert tenancy <= caught, f"tenancy rules without an escape fixture: {tenancy - caught}"


@pytest.mark.parametrize("repo", ["platform", "tenant", "operator"])
def test_default_repo_is_clean(repo: str, default_fleet: Path, default_tenant: Path,
                               default_operator_fleet: Path) -> None:
    path = {"platform": default_fleet, "tenant": default_tenant,
            "operator": default_operator_fleet}[repo]
    report = validate(path, *(("--tenant",) if repo == "tenant" else ()))
    assert report.findings == []
    assert report.code == 0


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_escape_is_caught_where_it_is_written(vector: Vector, repo_of) -> None:  # type: ignore[no-untyped-def]
    repo = repo_of(vector, vector.bad, f"bad-{vector.id}")
    report = check(repo, vector, vector.bad)
    line = line_of(repo / vector.file, vector.at, vector.after)
    assert (vector.rule, vector.file, line) in report.where(), (
        f"{vector.title}: expected {vector.rule} at {vector.file}:{line}, got "
        f"{sorted(report.where())}")
    severity = available_rules()[vector.rule].severity.value
    tenant_error = vector.repo == "tenant"  # in a tenant repo every FF5xx is an error
    assert report.code == (1 if severity == "error" or tenant_error else 0)


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_fixed_escape_validates_clean(vector: Vector, repo_of) -> None:  # type: ignore[no-untyped-def]
    repo = repo_of(vector, vector.good, f"good-{vector.id}")
    report = check(repo, vector, vector.good)
    assert report.findings == [], f"false positive on the fix of {vector.title}"


def _object(path: Path, kind: str) -> dict[str, Any]:
    """The object of ``kind`` in a fixture file, in the namespace kustomize gives it."""
    obj = next(d for d in documents(path) if d.get("kind") == kind)
    obj.setdefault("metadata", {}).setdefault("namespace", TENANT)
    return obj


POLICED = [v for v in VECTORS if v.policy]


@pytest.mark.parametrize("vector", POLICED, ids=[v.id for v in POLICED])
def test_admission_policy_denies_the_escape_and_admits_the_fix(
        vector: Vector, repo_of, policies: PolicySet,  # type: ignore[no-untyped-def]
        namespaces: dict[str, dict[str, Any]]) -> None:
    bad = _object(repo_of(vector, vector.bad, f"pol-bad-{vector.id}") / vector.file, vector.kind)
    good_repo = repo_of(vector, vector.good, f"pol-good-{vector.id}")
    good = _object(good_repo / vector.file, vector.kind)
    denied = {v.policy for v in policies.denials(bad, namespaces)}
    assert vector.policy in denied, f"{vector.policy} admitted: {vector.title}"
    assert policies.denials(good, namespaces) == []
    assert vector.policy in {b for b in policies.bindings_for(good, namespaces)}


def _built_objects(fleet: Path, tenant: Path) -> list[dict[str, Any]]:
    """Everything the default fleet applies on each cluster, and the tenant repo's overlays."""
    import yaml

    dirs = [d for top in ("clusters", "policies", "infrastructure")
            for d in sorted((fleet / top).iterdir()) if d.name != "base"]
    dirs += [tenant / "staging", tenant / "production"]
    out: list[dict[str, Any]] = []
    for d in dirs:
        if (d / "kustomization.yaml").is_file():
            out += [o for o in yaml.safe_load_all(kustomize_build(d)) if o]
        else:  # clusters/<c>: Flux generates a kustomization over the folder
            out += [o for f in sorted(d.glob("*.yaml")) for o in documents(f)]
    # each cluster's tenant-<name> Kustomizations: tenants/base/<name> with tenant_path substituted
    for ks in [o for o in out if o["metadata"]["name"].startswith("tenant-")]:
        text = kustomize_build(fleet / ks["spec"]["path"])
        for name, value in ks["spec"]["postBuild"]["substitute"].items():
            text = text.replace("${" + name + "}", value)
        assert "${" not in text, f"{ks['metadata']['name']}: a variable is left unsubstituted"
        out += [o for o in yaml.safe_load_all(text) if o]
    return out


def test_default_fleet_passes_its_own_admission_policies(
        default_fleet: Path, default_tenant: Path, policies: PolicySet,
        namespaces: dict[str, dict[str, Any]]) -> None:
    objects = _built_objects(default_fleet, default_tenant)
    guarded = [o for o in objects if policies.bindings_for(o, namespaces)]
    assert {o["kind"] for o in guarded} >= {"Kustomization", "GitRepository"}, \
        "the policies should apply to the tenant's Flux objects"
    denied = [(o["kind"], o["metadata"]["name"], v.message)
              for o in objects for v in policies.denials(o, namespaces)]
    assert denied == []


def _catalogue_rows(doc: str) -> list[list[str]]:
    """The cells of every row of the one escape catalogue table in docs/security.md."""
    section = doc.split("## Escape catalogue", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert lines and lines[0].startswith("| Vector | Prevented by the template | Caught by validate"
                                         " | Denied by policy | Fixture(s) |"), lines[:1]
    return [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines[1:]]


def test_security_doc_catalogue_matches_the_fixtures() -> None:
    """One table, every vector: each fixture a row names exists and its rule / policy is in that
    row's validate / policy cell; every fixture of every layer has a row; no cell is a promise."""
    from .test_isolation_policies import CATALOGUE

    doc = (REPO_ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    for heading in ("## Layer 1: what the template prevents", "## Layer 2: what validate catches",
                    "## Layer 3: what the policies deny"):
        assert heading in doc
    cases = {c.id: c for c in CASES}
    admissions = {a.id: a for a in CATALOGUE}
    tests = {m for f in (REPO_ROOT / "tests" / "security").glob("test_*.py")
             for m in re.findall(r"^def (test_\w+)", f.read_text(encoding="utf-8"), re.M)}
    seen: set[str] = set()
    for cells in _catalogue_rows(doc):
        assert len(cells) == 5, cells
        vector, _template, rule, policy, fixtures = cells
        assert "see layer" not in " ".join(cells), cells
        assert re.search(r"\bFF\d{3}\b", rule) or rule.startswith("none ("), cells
        assert "`flux-tenant-" in policy or policy.startswith("none"), cells
        names = re.findall(r"`([^`]+)`", fixtures)
        assert names, f"no fixture for {vector}"
        for name in names:
            seen.add(name)
            kind, _, ident = name.rpartition("/")
            if name.startswith("test_"):
                assert name in tests, f"{vector}: no test {name} in tests/security"
            elif kind == "validate":
                assert ident in cases, f"{vector}: no Case {ident}"
                assert cases[ident].rule in rule, (name, cells)
            elif kind == "isolation":
                assert ident in admissions, f"{vector}: no Admission {ident}"
                assert f"`{admissions[ident].policy}`" in policy, (name, cells)
            else:
                assert name in BY_ID, f"{vector}: no Vector {name}"
                assert BY_ID[name].rule in rule, (name, cells)
                assert not BY_ID[name].policy or f"`{BY_ID[name].policy}`" in policy, (name, cells)
    every = (set(BY_ID) | {f"validate/{c}" for c in cases}
             | {f"isolation/{a}" for a in admissions})
    assert every <= seen, f"fixtures without a row in docs/security.md: {sorted(every - seen)}"
