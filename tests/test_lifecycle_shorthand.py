"""`gh:org/repo` as a fleet's recorded template source (issue 12): `check-update`, `update` and
`tenant add` expand it as Copier does, and an unknown `--to` exits 2 naming the known versions.

No network: git's own ``url.<base>.insteadOf`` (git-config(1), set through ``GIT_CONFIG_COUNT``)
maps https://github.com/ to a local folder, and ``GIT_ALLOW_PROTOCOL=file`` makes any real network
access fail at once. The commands run as processes: Copier's git (plumbum) takes its environment
when it is imported, so a test's ``setenv`` would not reach it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lifecycle_repos import NEW_FILE, make_v2, new_fleet, template_repo
from ruamel.yaml import YAML

from flux_fleet.scaffold import git


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """A committed v1 fleet whose answers record the template as ``gh:org/tpl``."""
    tpl = template_repo(tmp_path / "github" / "org" / "tpl.git")
    fleet = new_fleet(tpl, tmp_path / "fleet", "v1")
    make_v2(tpl)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "GIT_ALLOW_PROTOCOL": "file",
           "GIT_CONFIG_COUNT": "1",
           "GIT_CONFIG_KEY_0": f"url.{(tmp_path / 'github').as_uri()}/.insteadOf",
           "GIT_CONFIG_VALUE_0": "https://github.com/"}
    yaml = YAML()
    answers = fleet / ".copier-answers.yml"
    data = yaml.load(answers)
    data["_src_path"] = "gh:org/tpl"
    yaml.dump(data, answers)
    git.commit_all(fleet, "record the template as gh:org/tpl")
    return {"fleet": fleet, "env": env}


def flux_fleet(world: dict, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flux_fleet", *argv, "--dir", str(world["fleet"])],
                          env=world["env"], capture_output=True, text=True, check=False)


def test_gh_shorthand_in_every_command(world: dict) -> None:
    fleet = world["fleet"]
    checked = flux_fleet(world, "check-update")
    assert checked.returncode == 0 and "v1 -> v2 available" in checked.stdout, checked.stderr

    unknown = flux_fleet(world, "update", "--to", "v9")
    assert unknown.returncode == 2, unknown.stderr
    assert "--to v9" in unknown.stderr and "v1, v2" in unknown.stderr, unknown.stderr

    added = flux_fleet(world, "tenant", "add", "team-b", "--repo",
                       "https://github.com/example-org/team-b")
    assert added.returncode == 0, added.stderr
    git.commit_all(fleet, "team-b")
    updated = flux_fleet(world, "update", "--no-validate")
    assert updated.returncode == 0, updated.stderr
    answers = YAML().load(fleet / ".copier-answers.yml")
    assert answers["_commit"] == "v2" and answers["_src_path"] == "gh:org/tpl", \
        "the shorthand is kept, the version moved"
    assert (fleet / NEW_FILE.removeprefix("template/platform/")).is_file()
