"""The README path, offline: a fleet rendered from the installed (bundled, non-git) template
takes every day-2 command across two flux-fleet releases with no network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import plumbum
import pytest
import yaml
from lifecycle_repos import INFRA, NEW_FILE, REPO_ROOT

import flux_fleet
from flux_fleet import resources
from flux_fleet.cli import main
from flux_fleet.scaffold import git, render

NEW_IN_FLEET = NEW_FILE.removeprefix("template/platform/")


def install(site: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> Path:
    """What `pip install flux-fleet==VERSION` leaves: a bundled template that is no git repo."""
    bundled = site / version / "flux_fleet" / "_template"
    shutil.copytree(REPO_ROOT / "template", bundled / "template")
    shutil.copy(REPO_ROOT / "copier.yml", bundled / "copier.yml")
    monkeypatch.setattr(resources, "template_dir", lambda: bundled)
    monkeypatch.setattr(render, "__version__", version)
    monkeypatch.setattr(flux_fleet, "__version__", version)
    return bundled


def answers_of(fleet: Path) -> dict:
    return yaml.safe_load((fleet / ".copier-answers.yml").read_text())


def test_every_day2_command_works_offline_across_two_releases(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # any attempt to reach https://github.com fails at once: the run must not need it (Copier's
    # git runs through plumbum, whose environment is a copy taken at import: patch both)
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")
    monkeypatch.setitem(plumbum.local.env, "GIT_ALLOW_PROTOCOL", "file")
    install(tmp_path / "site", monkeypatch, "1.4.0")
    fleet = tmp_path / "fleet"
    assert main(["new", str(fleet), "--defaults"]) == 0
    assert answers_of(fleet)["_commit"] == "v1.4.0"

    assert main(["tenant", "add", "team-b", "--repo", "https://github.com/example-org/team-b",
                 "--dir", str(fleet)]) == 0
    git.commit_all(fleet, "team-b")
    assert main(["cluster", "add", "qa", "--context", "qa-admin", "--dir", str(fleet)]) == 0
    git.commit_all(fleet, "qa")

    # flux-fleet 1.5.0 is installed: its template adds a file and changes a manifest line
    bundled = install(tmp_path / "site", monkeypatch, "1.5.0")
    (bundled / NEW_FILE).write_text("# Upgrading\n")
    infra = bundled / INFRA
    infra.write_text(infra.read_text().replace("retryInterval: 1m", "retryInterval: 2m"))

    capsys.readouterr()
    assert main(["check-update", "--json", "--dir", str(fleet)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["template"]["current"] == "v1.4.0"
    assert report["template"]["latest"] == "v1.5.0" and report["template"]["update"]

    assert main(["update", "--dir", str(fleet)]) == 0
    assert answers_of(fleet)["_commit"] == "v1.5.0"
    assert answers_of(fleet)["_src_path"] == "https://github.com/flux-fleet/flux-fleet"
    assert (fleet / NEW_IN_FLEET).is_file()
    assert "retryInterval: 2m" in (fleet / "clusters/qa/infrastructure.yaml").read_text()
    git.commit_all(fleet, "flux-fleet 1.5.0")

    assert main(["tenant", "remove", "team-b", "--dir", str(fleet)]) == 0
    git.commit_all(fleet, "offboard team-b")
    assert main(["cluster", "remove", "qa", "--dir", str(fleet)]) == 0
    git.commit_all(fleet, "drop qa")
    assert main(["update", "--dry-run", "--dir", str(fleet)]) == 0
    assert "no file changes" in capsys.readouterr().out
    assert main(["update", "--to", "v9.9.9", "--dir", str(fleet)]) == 2
    err = capsys.readouterr().err
    assert "v9.9.9" in err and "v1.4.0" in err and "v1.5.0" in err, "the known versions"


def test_shorthand_sources_work_in_check_update(tmp_path: Path) -> None:
    from flux_fleet.scaffold.template_source import expand, same_url

    assert expand("gh:org/tpl") == "https://github.com/org/tpl.git"
    assert expand("gl:org/tpl.git") == "https://gitlab.com/org/tpl.git"
    assert same_url("gh:flux-fleet/flux-fleet", "https://github.com/flux-fleet/flux-fleet")
