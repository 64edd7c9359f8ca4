"""infrastructure/<cluster>/{controllers,configs}: configs waits for controllers (dependsOn), the
tenants wait for configs, and a fleet rendered with the single-folder layout updates to it
without Flux pruning anything (the controllers' Kustomization keeps its name)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from lifecycle_repos import REPO_ROOT, commit, new_fleet, release

from flux_fleet.cli import main
from flux_fleet.scaffold import git

# the last commit before the split: the layout fleets were rendered with until then
OLD_LAYOUT = "6a1da4c"
CLUSTERS = ("staging", "production")


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1: the template with one infrastructure folder per cluster; v2: this checkout's."""
    repo = tmp_path_factory.mktemp("layout") / "template"
    repo.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", OLD_LAYOUT, "copier.yml",
                              "template"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    git.init_repo(repo, "template v1")
    git.run(["tag", "v1"], repo)
    subprocess.run(["rm", "-rf", str(repo / "template")], check=True)
    subprocess.run(["cp", "-r", str(REPO_ROOT / "template"), str(repo / "template")], check=True)
    subprocess.run(["cp", str(REPO_ROOT / "copier.yml"), str(repo / "copier.yml")], check=True)
    release(repo, "template v2: controllers and configs", "v2")
    return repo


def check_split_layout(fleet: Path) -> None:
    for cluster in CLUSTERS:
        ks = {d["metadata"]["name"]: d["spec"]
              for d in docs(fleet / "clusters" / cluster / "infrastructure.yaml")}
        assert ks["infrastructure"]["path"] == f"./infrastructure/{cluster}/controllers"
        assert ks["infrastructure-configs"]["path"] == f"./infrastructure/{cluster}/configs"
        assert ks["infrastructure-configs"]["dependsOn"] == [{"name": "infrastructure"}]
        assert ks["infrastructure"]["wait"] is True
        for tenant in docs(fleet / "clusters" / cluster / "tenants.yaml"):
            assert {"name": "infrastructure-configs"} in tenant["spec"]["dependsOn"]
        for part in ("controllers", "configs"):
            assert (fleet / "infrastructure" / cluster / part / "kustomization.yaml").is_file()
        assert not (fleet / "infrastructure" / cluster / "kustomization.yaml").exists()
    assert main(["validate", "--strict", str(fleet)]) == 0


def test_a_new_fleet_has_controllers_then_configs(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    assert main(["new", str(fleet), "--defaults", "--no-git", "--quiet"]) == 0
    check_split_layout(fleet)


def test_update_moves_a_fleet_of_the_old_layout_and_keeps_your_files(
        tpl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = new_fleet(tpl, tmp_path / "fleet", "v1")
    assert (fleet / "infrastructure/staging/kustomization.yaml").is_file(), "v1 is the old layout"
    (fleet / "infrastructure/base/notes.md").write_text("our notes\n")
    commit(fleet, "our notes")
    assert main(["update", "--to", "v2", "--dir", str(fleet)]) == 0
    capsys.readouterr()
    check_split_layout(fleet)
    assert (fleet / "infrastructure/base/notes.md").read_text() == "our notes\n"


def test_update_of_an_edited_old_overlay_refuses_then_backs_it_up(
        tpl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An add-on listed in the old overlay would be pruned by `infrastructure` (its path moves):
    the update names the file and keeps a backup to move the entry into controllers/."""
    fleet = new_fleet(tpl, tmp_path / "fleet", "v1")
    overlay = fleet / "infrastructure/staging/kustomization.yaml"
    overlay.write_text(overlay.read_text() + "  - ingress.yaml\n")
    (fleet / "infrastructure/staging/ingress.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ingress\n")
    commit(fleet, "our ingress")
    assert main(["update", "--to", "v2", "--dir", str(fleet)]) == 2
    assert "infrastructure/staging/kustomization.yaml (edited since it was rendered" in \
        capsys.readouterr().err
    assert main(["update", "--to", "v2", "--force", "--dir", str(fleet)]) == 0
    out = capsys.readouterr().out
    saved = Path(out.split("backup of the edited files: ")[1].split()[0])
    assert "ingress.yaml" in (saved / "infrastructure/staging/kustomization.yaml").read_text()
    assert (fleet / "infrastructure/staging/ingress.yaml").is_file(), "your manifest stays"
