"""Lifecycle commands are all or nothing: killed with SIGKILL at many points of a real run, the
fleet is found as before or as after, the next command says which, `recover` makes it exact,
and no scratch clone is left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lifecycle_repos import commit, make_v2, new_fleet, snapshot, template_repo

from flux_fleet.cli import main
from flux_fleet.scaffold import git

TEAM_B = ["tenant", "add", "team-b", "--repo", "https://github.com/example-org/team-b"]
OPERATIONS = {
    "update": ["update", "--to", "v2", "--no-validate"],
    "tenant-add": TEAM_B,
    "tenant-remove": ["tenant", "remove", "dev-team"],
    "cluster-remove": ["cluster", "remove", "staging"],
}
# (operation, the named step it dies at): before the apply, inside it, after it
KILLS = [
    ("update", "cloned"), ("update", "rendered"), ("update", "marker"), ("update", "apply-2"),
    ("update", "applied"),
    ("tenant-add", "rendered"), ("tenant-add", "apply-1"), ("tenant-add", "apply-5"),
    ("tenant-remove", "marker"), ("tenant-remove", "apply-3"),
    ("cluster-remove", "cloned"), ("cluster-remove", "apply-4"), ("cluster-remove", "applied"),
]


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = template_repo(tmp_path_factory.mktemp("atomic") / "template")
    make_v2(repo)
    return repo


@pytest.fixture(scope="module")
def pristine(tpl: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_fleet(tpl, tmp_path_factory.mktemp("pristine") / "fleet", "v1")


@pytest.fixture(scope="module")
def after_states(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each operation run to its end on a copy: the state a finished run leaves."""
    states = {}
    for name, argv in OPERATIONS.items():
        copy = tmp_path_factory.mktemp(f"after-{name}") / "fleet"
        shutil.copytree(pristine, copy, symlinks=True)
        assert main([*argv, "--dir", str(copy)]) == 0, name
        states[name] = snapshot(copy)
    return states


def flux_fleet(argv: list[str], tmpdir: Path, kill_at: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    if kill_at:
        env["FLUX_FLEET_TEST_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "flux_fleet", *argv], env=env,
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("operation", "step"), KILLS, ids=[f"{o}@{s}" for o, s in KILLS])
def test_a_killed_run_is_found_before_or_after_and_recovered(
        operation: str, step: str, pristine: Path, after_states: dict[str, dict],
        tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(pristine, fleet, symlinks=True)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    before, after = snapshot(fleet), after_states[operation]
    assert before != after

    killed = flux_fleet([*OPERATIONS[operation], "--dir", str(fleet)], tmpdir, kill_at=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    nxt = flux_fleet(["tenant", "add", "late", "--repo", "https://github.com/example-org/late",
                      "--dry-run", "--dir", str(fleet)], tmpdir)
    state_dir = Path(git.run(["rev-parse", "--absolute-git-dir"], fleet).strip()) / "flux-fleet"
    assert not list(state_dir.glob("tmp-*")), "the dead run's scratch clone is swept"
    assert not list(tmpdir.iterdir()), "nothing was left in TMPDIR either"
    if step in ("cloned", "rendered"):  # died before the apply: nothing was touched
        assert snapshot(fleet) == before
        assert "stopped before changing any file: the tree is exactly as before" in nxt.stdout
        assert nxt.returncode == 0, nxt.stderr
        return
    assert nxt.returncode == 2, nxt.stderr
    assert f"an interrupted `flux-fleet {operation.replace('-', ' ')}" in nxt.stderr
    found = snapshot(fleet)
    if step == "marker":
        assert found == before and "exactly as before it" in nxt.stderr
        check = flux_fleet(["validate", str(fleet), "--no-build"], tmpdir)
        assert check.returncode == 2 and "interrupted" in check.stderr, "no false pass"
    elif step == "applied":
        assert found == after and "exactly as after it" in nxt.stderr
    else:
        assert "part-way" in nxt.stderr or "exactly as" in nxt.stderr
    assert "flux-fleet recover --finish" in nxt.stderr and "--rollback" in nxt.stderr

    finish = step.endswith(("2", "4", "applied"))
    done = flux_fleet(["recover", "--finish" if finish else "--rollback", "--dir", str(fleet)],
                      tmpdir)
    assert done.returncode == 0, done.stderr
    assert snapshot(fleet) == (after if finish else before), "exactly after / exactly before"
    if not finish:
        assert git.status(fleet).clean
    again = flux_fleet(["tenant", "list", "--dir", str(fleet)], tmpdir)
    assert again.returncode == 0 and "interrupted" not in again.stderr


def test_recover_without_an_interrupted_run_says_so(pristine: Path, tmp_path: Path,
                                                    capsys) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(pristine, fleet, symlinks=True)
    assert main(["recover", "--finish", "--dir", str(fleet)]) == 2
    assert "no interrupted flux-fleet change" in capsys.readouterr().err


# --- no silent loss --------------------------------------------------------------------------

def test_tenant_add_refuses_to_overwrite_a_git_ignored_file(pristine: Path, tmp_path: Path,
                                                            capsys) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(pristine, fleet, symlinks=True)
    (fleet / ".gitignore").write_text("tenants/base/team-b/\n")
    commit(fleet, "keep local drafts out of git")
    draft = fleet / "tenants/base/team-b/rbac.yaml"
    draft.parent.mkdir(parents=True)
    draft.write_text("# my draft, never committed\n")

    assert main([*TEAM_B, "--dry-run", "--dir", str(fleet)]) == 1
    assert "overwrites your untracked/ignored file" in capsys.readouterr().out
    assert main([*TEAM_B, "--dir", str(fleet)]) == 2
    err = capsys.readouterr().err
    assert "tenants/base/team-b/rbac.yaml (untracked or git-ignored" in err and "--force" in err
    assert draft.read_text() == "# my draft, never committed\n"

    assert main([*TEAM_B, "--force", "--dir", str(fleet)]) == 0
    out = capsys.readouterr().out
    saved = Path(out.split("backup of the edited files: ")[1].split()[0])
    assert (saved / "tenants/base/team-b/rbac.yaml").read_text() == "# my draft, never committed\n"
    assert "ServiceAccount" in draft.read_text() or "RoleBinding" in draft.read_text()


@pytest.fixture(scope="module")
def dropping_tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1 renders docs/legacy.md; v2 no longer does."""
    repo = template_repo(tmp_path_factory.mktemp("dropping") / "template")
    (repo / "template/platform/docs").mkdir(exist_ok=True)
    (repo / "template/platform/docs/legacy.md").write_text("# Legacy notes\n")
    git.commit_all(repo, "v1 with legacy notes")
    git.run(["tag", "-f", "v1"], repo)
    (repo / "template/platform/docs/legacy.md").unlink()
    git.commit_all(repo, "v2 drops them")
    git.run(["tag", "v2"], repo)
    return repo


def test_update_refuses_to_delete_a_file_you_edited(dropping_tpl: Path, tmp_path: Path,
                                                    capsys) -> None:
    fleet = new_fleet(dropping_tpl, tmp_path / "fleet", "v1")
    legacy = fleet / "docs/legacy.md"
    legacy.write_text(legacy.read_text() + "Our escalation path: #platform\n")
    commit(fleet, "our escalation path")
    before = snapshot(fleet)

    assert main(["update", "--to", "v2", "--dry-run", "--dir", str(fleet)]) == 1
    assert "deleted  docs/legacy.md  (edited by you)" in capsys.readouterr().out
    assert main(["update", "--to", "v2", "--dir", str(fleet)]) == 2
    assert "docs/legacy.md (edited since it was rendered" in capsys.readouterr().err
    assert snapshot(fleet) == before

    assert main(["update", "--to", "v2", "--force", "--dir", str(fleet)]) == 0
    out = capsys.readouterr().out
    saved = Path(out.split("backup of the edited files: ")[1].split()[0])
    assert "escalation" in (saved / "docs/legacy.md").read_text()
    assert not legacy.exists()


def test_an_unknown_target_version_exits_2_listing_the_known_ones(pristine: Path,
                                                                  tmp_path: Path,
                                                                  capsys) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(pristine, fleet, symlinks=True)
    assert main(["update", "--to", "v9", "--dir", str(fleet)]) == 2
    err = capsys.readouterr().err
    assert "--to v9: the template has no such version" in err and "v1, v2" in err


def test_a_dead_runs_copier_mirror_staging_is_swept(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Copier clones a remote template's mirror into a staging folder of its cache: killed
    mid-clone, that folder stays. The next run removes it once it is an hour old, never a
    mirror and never a clone that may still be running."""
    from flux_fleet.scaffold import atomic

    monkeypatch.setenv("COPIER_CACHE_DIR", str(tmp_path))
    dead = tmp_path / "copier._vcs.clone.dead1234"
    fresh = tmp_path / "copier._vcs.clone.live5678"
    mirror = tmp_path / ("ab" * 32 + ".git")
    for folder in (dead, fresh, mirror):
        (folder / "repo.git" / "objects").mkdir(parents=True)
    old = time.time() - 2 * atomic.STALE_AFTER
    for folder in (dead, mirror):
        os.utime(folder, (old, old))

    assert atomic.sweep_copier_staging() == [dead]
    assert not dead.exists() and fresh.is_dir() and mirror.is_dir()
