"""`flux-fleet update` / `check-update` on real template repos with real tags (v1 -> v2)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from lifecycle_repos import (
    FLUX_V1,
    FLUX_V2,
    NEW_FILE,
    REPO_ROOT,
    commit,
    make_v2,
    new_fleet,
    release,
    template_repo,
)

from flux_fleet import git
from flux_fleet.cli import main

NEW_IN_FLEET = NEW_FILE.removeprefix("template/platform/")


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = template_repo(tmp_path_factory.mktemp("update") / "template")
    make_v2(repo)
    return repo


@pytest.fixture
def fleet(tpl: Path, tmp_path: Path) -> Path:
    return new_fleet(tpl, tmp_path / "fleet", "v1")


def user_edits(fleet: Path) -> None:
    """What a platform admin does between updates: edit a rendered file, add their own."""
    rbac = fleet / "tenants/base/dev-team/rbac.yaml"
    rbac.write_text(rbac.read_text() + "# reviewed by the platform team\n")
    (fleet / "infrastructure/base/notes.md").write_text("our own notes\n")
    commit(fleet, "platform team edits")


def test_update_brings_template_changes_and_keeps_user_edits(fleet: Path, capsys) -> None:
    user_edits(fleet)

    assert main(["update", "--dir", str(fleet)]) == 0

    out = capsys.readouterr().out
    assert (fleet / NEW_IN_FLEET).is_file(), "the template's new file arrived"
    assert "retryInterval: 2m" in (fleet / "clusters/staging/infrastructure.yaml").read_text()
    assert (fleet / "tenants/base/dev-team/rbac.yaml").read_text().endswith(
        "# reviewed by the platform team\n")
    assert (fleet / "infrastructure/base/notes.md").read_text() == "our own notes\n"
    answers = (fleet / ".copier-answers.yml").read_text()
    assert "_commit: v2" in answers
    # --defaults keeps the stored answer although the template default moved
    assert f"flux_version: {FLUX_V1}" in answers
    assert NEW_IN_FLEET in out and "validated" in out


def test_update_with_flux_version_moves_flux(fleet: Path) -> None:
    assert main(["update", "--flux-version", FLUX_V2, "--dir", str(fleet)]) == 0
    assert f"flux_version: {FLUX_V2}" in (fleet / ".copier-answers.yml").read_text()
    assert FLUX_V2 in (fleet / "clusters/production/flux-system/gotk-components.yaml").read_text()


def test_conflicting_edit_fails_naming_the_file(fleet: Path, capsys) -> None:
    infra = fleet / "clusters/staging/infrastructure.yaml"
    infra.write_text(infra.read_text().replace("retryInterval: 1m", "retryInterval: 30s"))
    commit(fleet, "faster retries on staging")

    assert main(["update", "--dir", str(fleet)]) == 1

    err = capsys.readouterr().err
    assert "clusters/staging/infrastructure.yaml" in err
    assert "conflict" in err
    assert "clusters/staging/infrastructure.yaml" in git.unmerged_paths(fleet)


def test_dry_run_shows_the_plan_and_touches_nothing(fleet: Path, capsys) -> None:
    before = git.head(fleet)

    assert main(["update", "--dry-run", "--dir", str(fleet)]) == 0

    out = capsys.readouterr().out
    assert f"added    {NEW_IN_FLEET}" in out
    assert "changed  clusters/staging/infrastructure.yaml" in out
    assert git.status(fleet).clean and git.head(fleet) == before
    assert not (fleet / NEW_IN_FLEET).exists()


def test_dirty_tree_is_refused(fleet: Path, capsys) -> None:
    (fleet / "README.md").write_text("work in progress\n")

    assert main(["update", "--dir", str(fleet)]) == 2

    err = capsys.readouterr().err
    assert "uncommitted changes (README.md)" in err and "fix: commit or stash" in err
    assert "retryInterval: 1m" in (fleet / "clusters/staging/infrastructure.yaml").read_text()


def test_check_update_reports_template_and_flux(fleet: Path, capsys) -> None:
    assert main(["check-update", "--json", "--dir", str(fleet)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["template"] == {"current": "v1", "latest": "v2", "newer": ["v2"],
                                  "update": True}
    assert report["flux"] == {"current": FLUX_V1, "latest": FLUX_V2, "update": True}


def test_relative_template_source_is_a_one_line_error(fleet: Path, capsys) -> None:
    answers = fleet / ".copier-answers.yml"
    text = answers.read_text()
    src = next(line for line in text.splitlines() if line.startswith("_src_path:"))
    answers.write_text(text.replace(src, "_src_path: ../template"))
    commit(fleet, "copied from elsewhere")

    assert main(["update", "--dir", str(fleet)]) == 2
    err = capsys.readouterr().err
    assert "relative" in err and "fix: set _src_path" in err


@pytest.mark.parametrize("argv", [["update"], ["check-update"]])
def test_help_has_an_example(argv: list[str], capsys) -> None:
    assert main([*argv, "--help"]) == 0
    assert re.search(r"Example:\n\s+flux-fleet ", capsys.readouterr().out)


# The last template with ONE Flux Kustomization `tenants` per cluster (overlay tenants/<cluster>/).
OLD_LAYOUT = "c93ba82"


def _has_commit(ref: str) -> bool:
    """False without git history (e.g. an sdist): then there is nothing to migrate from."""
    return subprocess.run(["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{ref}^{{commit}}"],
                          capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def layout_tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1 = the old per-cluster layout from git history, v2 = this checkout's template."""
    if not _has_commit(OLD_LAYOUT):
        pytest.skip(f"commit {OLD_LAYOUT} (old tenant layout) is not in this checkout")
    dest = tmp_path_factory.mktemp("layout") / "template"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", OLD_LAYOUT, "template",
                              "copier.yml"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    git.init_repo(dest, "template v1: one tenants Kustomization per cluster")
    git.run(["tag", "v1"], dest)
    shutil.rmtree(dest / "template")
    shutil.copytree(REPO_ROOT / "template", dest / "template")
    shutil.copy2(REPO_ROOT / "copier.yml", dest / "copier.yml")
    release(dest, "template v2: one Kustomization per tenant per cluster", "v2")
    return dest


def test_update_moves_a_fleet_to_one_kustomization_per_tenant(layout_tpl: Path, tmp_path: Path,
                                                              capsys) -> None:
    fleet = new_fleet(layout_tpl, tmp_path / "fleet", "v1")
    assert (fleet / "tenants/staging/kustomization.yaml").is_file(), "v1 has the old overlay"
    old = yaml.safe_load((fleet / "clusters/staging/tenants.yaml").read_text())
    assert old["metadata"]["name"] == "tenants"

    assert main(["update", "--to", "v2", "--dir", str(fleet)]) == 0

    out = capsys.readouterr().out
    for cluster in ("staging", "production"):
        assert not (fleet / "tenants" / cluster).exists(), "Copier deleted the old overlay"
        assert f"deleted  tenants/{cluster}/kustomization.yaml" in out
        docs = [d for d in yaml.safe_load_all((fleet / "clusters" / cluster /
                                               "tenants.yaml").read_text()) if d]
        assert [(d["metadata"]["name"], d["spec"]["path"],
                 d["spec"]["postBuild"]["substitute"]["tenant_path"]) for d in docs] == [
            ("tenant-dev-team", "./tenants/base/dev-team", f"./{cluster}")]
    assert "${tenant_path}" in (fleet / "tenants/base/dev-team/sync.yaml").read_text()
    assert "validated: clean" in out
    assert "flux suspend kustomization tenants -n flux-system" in out, \
        "the update says how to keep Flux from pruning the tenants on the way"
    report = tmp_path / "report.json"
    assert main(["validate", str(fleet), "--format", "json", "-o", str(report)]) == 0
    assert json.loads(report.read_text())["findings"] == []


def test_dry_run_of_the_layout_update_warns_before_anything_changes(layout_tpl: Path,
                                                                    tmp_path: Path,
                                                                    capsys) -> None:
    fleet = new_fleet(layout_tpl, tmp_path / "fleet", "v1")

    assert main(["update", "--to", "v2", "--dry-run", "--dir", str(fleet)]) == 0

    out = capsys.readouterr().out
    assert "deleted  tenants/staging/kustomization.yaml" in out
    assert "note:" in out and "(production, staging)" in out
    assert (fleet / "tenants/staging/kustomization.yaml").is_file() and git.status(fleet).clean
