"""Kill safety at arbitrary moments (issue 12): `tenant add` killed with SIGKILL at fractions of
its own measured run time, wherever it happens to be (cloning, in Copier, validating, applying),
and at the instant its in-progress marker appears. After each kill the tree is exactly before,
or the next command names the interrupted run and `recover` makes it exactly before or after.

tests/test_lifecycle_atomic.py kills at the named checkpoints; this one needs no hook.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lifecycle_repos import new_fleet, snapshot, template_repo

from flux_fleet.scaffold import git

ADD = ["tenant", "add", "team-k", "--repo", "https://github.com/example-org/team-k"]
FRACTIONS = (0.5,)


def run(argv: list[str], fleet: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flux_fleet", *argv, "--dir", str(fleet)],
                          env=env, capture_output=True, text=True, check=False)


def start(fleet: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flux_fleet", *ADD, "--dir", str(fleet)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A committed fleet, the tree `tenant add` leaves, and how long that run took."""
    base = tmp_path_factory.mktemp("kill-anywhere")
    tpl = template_repo(base / "template")
    pristine = new_fleet(tpl, base / "pristine", "v1")
    env = {**os.environ, "TMPDIR": str(base)}
    done = base / "done"
    shutil.copytree(pristine, done, symlinks=True)
    began = time.monotonic()
    finished = run(ADD, done, env)
    took = time.monotonic() - began
    assert finished.returncode == 0, finished.stderr
    return {"pristine": pristine, "before": snapshot(pristine), "after": snapshot(done),
            "took": took, "env": env}


def marker(fleet: Path) -> Path:
    return fleet / ".git" / "flux-fleet" / "in-progress.json"


def check_after_kill(fleet: Path, world: dict, tmp_path: Path) -> str:
    """What the killed run left, made exact; returns which case it was."""
    env = world["env"]
    nxt = run(["tenant", "add", "late", "--repo", "https://github.com/example-org/late",
               "--dry-run"], fleet, env)
    state_dir = Path(git.run(["rev-parse", "--absolute-git-dir"], fleet).strip()) / "flux-fleet"
    assert not list(state_dir.glob("tmp-*")), "the dead run's scratch clone is swept"
    if not marker(fleet).exists():
        found = snapshot(fleet)
        assert found in (world["before"], world["after"]), "nothing half-done without a marker"
        if found == world["before"]:
            assert nxt.returncode == 0, nxt.stderr
            return "before"
        # killed after the apply (while validating): the change is staged for review, so the
        # next change refuses the dirty tree until it is committed
        assert nxt.returncode == 2 and "uncommitted changes" in nxt.stderr, nxt.stderr
        return "after"
    assert nxt.returncode == 2 and "an interrupted `flux-fleet tenant add team-k`" in nxt.stderr
    other = tmp_path / "other"
    shutil.copytree(fleet, other, symlinks=True)
    assert run(["recover", "--rollback"], fleet, env).returncode == 0
    assert snapshot(fleet) == world["before"] and git.status(fleet).clean
    assert run(["recover", "--finish"], other, env).returncode == 0
    assert snapshot(other) == world["after"]
    return "interrupted"


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_killed_at_a_moment_of_its_run(fraction: float, world: dict, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(world["pristine"], fleet, symlinks=True)
    proc = start(fleet, world["env"])
    try:
        proc.wait(timeout=world["took"] * fraction)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    check_after_kill(fleet, world, tmp_path)


def test_killed_the_moment_the_marker_appears(world: dict, tmp_path: Path) -> None:
    """The apply itself is milliseconds: poll for the marker and kill on sight. If the run
    still wins the race, the tree must be exactly after."""
    fleet = tmp_path / "fleet"
    shutil.copytree(world["pristine"], fleet, symlinks=True)
    proc = start(fleet, world["env"])
    seen = marker(fleet)
    while proc.poll() is None and not seen.exists():
        time.sleep(0.0005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    case = check_after_kill(fleet, world, tmp_path)
    assert case in ("interrupted", "after")
