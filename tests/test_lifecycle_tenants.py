"""`flux-fleet tenant|cluster add|remove|list` through copier, on a real tagged template repo."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import plumbum
import pytest
import yaml
from lifecycle_repos import commit, new_fleet, snapshot, template_repo

from flux_fleet.cli import main
from flux_fleet.scaffold import git

TEAM_B = ["tenant", "add", "team-b", "--namespace", "team-b",
          "--repo", "https://github.com/example-org/team-b", "--path", "staging=./stg",
          "--clusters", "staging"]


def tenant_kustomizations(fleet: Path, cluster: str) -> dict[str, Any]:
    """The Flux Kustomizations of clusters/<cluster>/tenants.yaml, by name."""
    text = (fleet / "clusters" / cluster / "tenants.yaml").read_text()
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(text) if d}


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("tenants") / "template")


@pytest.fixture
def fleet(tpl: Path, tmp_path: Path) -> Path:
    return new_fleet(tpl, tmp_path / "fleet")


@pytest.fixture(scope="module")
def untouched(tpl: Path) -> Path:
    """One fleet shared by the tests that must leave it exactly as it is."""
    return new_fleet(tpl, tpl.parent / "untouched")


def test_tenant_add_then_remove_round_trips_byte_for_byte(fleet: Path, capsys) -> None:
    original = snapshot(fleet)

    assert main([*TEAM_B, "--dir", str(fleet)]) == 0
    assert (fleet / "tenants/base/team-b/sync.yaml").is_file()
    staging = tenant_kustomizations(fleet, "staging")
    assert staging["tenant-team-b"]["spec"]["path"] == "./tenants/base/team-b"
    assert staging["tenant-team-b"]["spec"]["postBuild"]["substitute"] == {"tenant_path": "./stg"}
    assert "tenant-team-b" not in tenant_kustomizations(fleet, "production")
    assert "team-b" in capsys.readouterr().out
    commit(fleet, "onboard team-b")

    assert main(["tenant", "remove", "team-b", "--dir", str(fleet)]) == 0

    assert snapshot(fleet) == original


def test_remove_of_an_edited_tenant_refuses_then_backs_up_with_force(fleet: Path, capsys) -> None:
    rbac = fleet / "tenants/base/dev-team/rbac.yaml"
    edited = rbac.read_text() + "# extra permissions granted after review\n"
    rbac.write_text(edited)
    commit(fleet, "tune dev-team rbac")

    assert main(["tenant", "remove", "dev-team", "--dir", str(fleet)]) == 2
    err = capsys.readouterr().err
    assert "tenants/base/dev-team/rbac.yaml" in err and "--force" in err
    assert rbac.read_text() == edited and git.status(fleet).clean

    assert main(["tenant", "remove", "dev-team", "--force", "--dir", str(fleet)]) == 0
    out = capsys.readouterr().out
    assert not rbac.exists()
    backup = Path(re.search(r"backup of the edited files: (\S+)", out).group(1))
    assert (backup / "tenants/base/dev-team/rbac.yaml").read_text() == edited
    assert "deleted  tenants/base/dev-team/rbac.yaml  (edited by you)" in out


def test_tenant_remove_dry_run_lists_what_would_be_deleted(fleet: Path, capsys) -> None:
    assert main(["tenant", "remove", "dev-team", "--dry-run", "--dir", str(fleet)]) == 0
    out = capsys.readouterr().out
    assert "deleted  tenants/base/dev-team/sync.yaml" in out
    assert (fleet / "tenants/base/dev-team/sync.yaml").is_file() and git.status(fleet).clean


def test_cluster_add_then_remove_round_trips(fleet: Path) -> None:
    original = snapshot(fleet)

    assert main(["cluster", "add", "qa", "--context", "qa-admin", "--env", "staging",
                 "--dir", str(fleet)]) == 0
    assert (fleet / "clusters/qa/flux-system/kustomization.yaml").is_file()
    assert tenant_kustomizations(fleet, "qa") == {}, \
        "dev-team's answers name its clusters: a new cluster gets no tenant until asked"
    commit(fleet, "add qa")

    assert main(["cluster", "remove", "qa", "--dir", str(fleet)]) == 0
    assert snapshot(fleet) == original


def test_cluster_remove_of_an_edited_cluster_needs_force(fleet: Path, capsys) -> None:
    infra = fleet / "infrastructure/staging/controllers/kustomization.yaml"
    infra.write_text(infra.read_text() + "# staging-only add-ons go here\n")
    commit(fleet, "note")

    assert main(["cluster", "remove", "staging", "--dir", str(fleet)]) == 2
    assert "infrastructure/staging/controllers/kustomization.yaml" in capsys.readouterr().err
    assert main(["cluster", "remove", "staging", "--force", "--dir", str(fleet)]) == 0
    assert not (fleet / "clusters/staging").exists()
    assert not (fleet / "infrastructure/staging").exists()
    assert "tenant-dev-team" in tenant_kustomizations(fleet, "production")
    answers = (fleet / ".copier-answers.yml").read_text()
    assert "name: staging" not in answers


def test_lists_show_the_answers(untouched: Path, capsys) -> None:
    assert main(["tenant", "list", "--dir", str(untouched)]) == 0
    assert capsys.readouterr().out.startswith("dev-team\tnamespaces=dev-team\trole=admin")
    assert main(["cluster", "list", "--dir", str(untouched)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "staging\tcontext=staging\tenv=staging", "production\tcontext=production\tenv=production"]


@pytest.mark.parametrize(("argv", "message"), [
    (["tenant", "add", "dev-team", "--repo", "https://github.com/example-org/x"],
     "tenant 'dev-team' already exists"),
    (["tenant", "add", "Bad_Name", "--repo", "https://github.com/example-org/x"],
     "not a DNS-1123 label"),
    (["tenant", "add", "t2", "--repo", "https://github.com/example-org/x", "--clusters", "mars"],
     "unknown cluster(s) mars"),
    (["tenant", "add", "t2", "--repo", "https://github.com/example-org/x", "--path", "nope"],
     "expected ENV=PATH"),
    (["tenant", "remove", "ghost"], "no tenant 'ghost'"),
    (["cluster", "add", "staging", "--context", "x"], "cluster 'staging' already exists"),
    (["cluster", "remove", "ghost"], "no cluster 'ghost'"),
])
def test_bad_input_is_a_usage_error_with_a_fix(untouched: Path, argv: list[str], message: str,
                                              capsys) -> None:
    before = snapshot(untouched)
    assert main([*argv, "--dir", str(untouched)]) == 2
    err = capsys.readouterr().err
    assert message in err and "\nfix: " in err
    assert "Traceback" not in err
    assert snapshot(untouched) == before and git.status(untouched).clean


def test_dirty_tree_is_refused(fleet: Path, capsys) -> None:
    (fleet / "scratch.yaml").write_text("a: 1\n")
    assert main([*TEAM_B, "--dir", str(fleet)]) == 2
    assert "uncommitted changes (scratch.yaml)" in capsys.readouterr().err
    assert not (fleet / "tenants/base/team-b").exists()


@pytest.mark.parametrize("argv", [
    ["tenant"], ["tenant", "add"], ["tenant", "remove"], ["tenant", "list"],
    ["cluster"], ["cluster", "add"], ["cluster", "remove"], ["cluster", "list"],
])
def test_help_has_an_example(argv: list[str], capsys) -> None:
    assert main([*argv, "--help"]) == 0
    assert re.search(r"Example:\n\s+flux-fleet ", capsys.readouterr().out)


def test_remove_of_a_tenant_whose_cluster_kustomization_was_edited_changes_nothing(
        fleet: Path, capsys) -> None:
    tenants = fleet / "clusters/staging/tenants.yaml"
    tenants.write_text(tenants.read_text().replace("interval: 1h", "interval: 30m"))
    commit(fleet, "dev-team reconciles more often on staging")
    before = snapshot(fleet)

    assert main(["tenant", "remove", "dev-team", "--dir", str(fleet)]) == 2

    err = capsys.readouterr().err
    assert "would leave conflicts in file(s) you edited: clusters/staging/tenants.yaml" in err
    assert "--force" in err
    assert snapshot(fleet) == before and git.status(fleet).clean

    assert main(["tenant", "remove", "dev-team", "--force", "--dir", str(fleet)]) == 1
    assert "<<<<<<<" in tenants.read_text(), "with --force the conflict is left to resolve"
    assert not (fleet / "tenants/base/dev-team").exists()


def test_tenant_add_works_on_a_machine_without_a_git_identity(
        fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A newcomer's first `tenant add`, before `git config user.email`: the scratch commits are
    flux-fleet's own, so they need no identity (it failed with git's "Author identity unknown",
    exit 3). ``user.useConfigOnly`` stops git guessing one from the host name."""
    bare = tmp_path / "gitconfig"
    bare.write_text("[user]\n\tuseConfigOnly = true\n[protocol \"file\"]\n\tallow = always\n")
    for env in (os.environ, plumbum.local.env):
        monkeypatch.setitem(env, "GIT_CONFIG_GLOBAL", str(bare))
        for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
                    "GIT_COMMITTER_EMAIL", "EMAIL"):
            if key in env:
                monkeypatch.delitem(env, key)

    assert main(["tenant", "add", "team-n", "--repo", "https://github.com/example-org/team-n",
                 "--dir", str(fleet)]) == 0, capsys.readouterr().err
    assert (fleet / "tenants/base/team-n/rbac.yaml").is_file()
    assert git.run(["config", "user.email"], fleet, check=False).strip() == "", \
        "the user's repository gets no identity of ours"
