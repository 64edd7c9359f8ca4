"""FF6xx: .copier-answers.yml vs the tree — one fleet per rule, each drifted the way users do."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from lifecycle_repos import template_repo

from flux_fleet.scaffold import copier_run
from flux_fleet.validate import validate
from flux_fleet.validate.checks import drift
from flux_fleet.validate.config import Config


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("drift")
    tpl = template_repo(base / "template")
    dest = base / "fleet"
    copier_run.copy(str(tpl), dest, {}, "v1")
    return dest


def drift_findings(root: Path) -> list[tuple[str, str]]:
    result = validate(root, Config(select=("FF6",)))
    return [(f.rule, f.file) for f in result.findings]


def edit_answers(root: Path, change: Callable[[dict], None]) -> None:
    path = root / ".copier-answers.yml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def add_tenant_by_hand(root: Path) -> None:
    edit_answers(root, lambda a: a["tenants"].append(
        {"name": "team-b", "repo_url": "https://github.com/example-org/team-b"}))


def drop_tenant_by_hand(root: Path) -> None:
    edit_answers(root, lambda a: a.update(tenants=[]))


def drop_cluster_folder(root: Path) -> None:
    shutil.rmtree(root / "clusters/production")


def add_cluster_folder(root: Path) -> None:
    shutil.copytree(root / "clusters/staging", root / "clusters/old")


def narrow_tenant_by_hand(root: Path) -> None:
    edit_answers(root, lambda a: a["tenants"][0].update(clusters=["staging"]))


def drop_tenant_kustomization_by_hand(root: Path) -> None:
    """Keep only the header comment of staging's tenants.yaml: dev-team no longer runs there."""
    path = root / "clusters/staging/tenants.yaml"
    path.write_text(path.read_text().split("---")[0])


def relative_source(root: Path) -> None:
    edit_answers(root, lambda a: a.update(_src_path="../template"))


@pytest.mark.parametrize(("drift_it", "expected"), [
    (add_tenant_by_hand, ("FF601", ".copier-answers.yml")),
    (drop_tenant_by_hand, ("FF602", "tenants/base/dev-team/kustomization.yaml")),
    (drop_cluster_folder, ("FF603", ".copier-answers.yml")),
    (add_cluster_folder, ("FF604", "clusters/old/infrastructure.yaml")),
    (narrow_tenant_by_hand, ("FF605", "clusters/production/tenants.yaml")),
    (drop_tenant_kustomization_by_hand, ("FF605", "clusters/staging/tenants.yaml")),
    (relative_source, ("FF606", ".copier-answers.yml")),
], ids=lambda v: getattr(v, "__name__", None) or v[0])
def test_each_drift_is_reported_with_its_rule(rendered: Path, tmp_path: Path, drift_it,
                                              expected: tuple[str, str]) -> None:
    root = shutil.copytree(rendered, tmp_path / "fleet")
    drift_it(root)
    assert expected in drift_findings(root)


def test_a_freshly_rendered_fleet_has_no_drift(rendered: Path) -> None:
    assert drift_findings(rendered) == []


def test_every_finding_names_a_fix_command(rendered: Path, tmp_path: Path) -> None:
    root = shutil.copytree(rendered, tmp_path / "fleet")
    add_tenant_by_hand(root)
    add_cluster_folder(root)
    findings = validate(root, Config(select=("FF6",))).findings
    assert findings and all("flux-fleet " in f.hint or "git " in f.hint for f in findings)
    hand_added = next(f for f in findings if f.rule == "FF601")
    assert hand_added.line > 1, "points at the tenant's entry in the answers file"


def test_a_tenant_applied_where_the_answers_do_not_put_it_points_at_its_kustomization(
        rendered: Path, tmp_path: Path) -> None:
    root = shutil.copytree(rendered, tmp_path / "fleet")
    narrow_tenant_by_hand(root)
    finding = next(f for f in validate(root, Config(select=("FF605",))).findings)
    text = (root / finding.file).read_text().splitlines()
    assert finding.file == "clusters/production/tenants.yaml"
    assert text[finding.line - 1].strip() == "path: ./tenants/base/dev-team"
    assert "tenant 'dev-team'" in finding.message and "'production'" in finding.message


def test_tenant_repos_are_not_checked_for_platform_drift(rendered: Path, tmp_path: Path) -> None:
    root = shutil.copytree(rendered, tmp_path / "fleet")
    add_tenant_by_hand(root)
    edit_answers(root, lambda a: a.update(repo_kind="tenant"))
    assert [code for code, _ in drift_findings(root)] == []


def test_rules_read_as_docs_pages() -> None:
    codes = [r.code for r in drift.RULES]
    assert codes == sorted(set(codes)) and all(c.startswith("FF6") for c in codes)
    assert all(r.why and r.fix and r.bad and r.good for r in drift.RULES)
