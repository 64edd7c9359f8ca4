"""Kill safety at arbitrary moments (issue 12): `update`, `tenant add`, `tenant remove` and
`cluster remove`, each killed with SIGKILL at fractions of its own measured run time, wherever it
happens to be (cloning, in Copier, validating, applying), and at the instant its in-progress
marker appears. After each kill the tree is exactly before or exactly after, or the next command
names the interrupted run and `recover --rollback` / `--finish` make it exactly before / after;
no scratch clone is left.

The default run kills each command once (at the marker; `tenant add` also half-way). The full
sweep, nine evenly spaced moments per command plus the marker, runs with
``FLUX_FLEET_KILL_SWEEP=1`` (see docs/lifecycle.md, "Interrupted runs"):

    FLUX_FLEET_KILL_SWEEP=1 .venv/bin/python -m pytest tests/test_kill_anywhere.py -n 0 -q

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
from lifecycle_repos import make_v2, new_fleet, snapshot, template_repo

from flux_fleet.scaffold import git

SWEEP = os.environ.get("FLUX_FLEET_KILL_SWEEP") == "1"
# what each command is, and how `flux-fleet` names it in the interrupted-run message
COMMANDS: dict[str, tuple[list[str], str]] = {
    "update": (["update", "--to", "v2"], "update"),
    "tenant-add": (["tenant", "add", "team-k", "--repo", "https://github.com/example-org/team-k"],
                   "tenant add team-k"),
    "tenant-remove": (["tenant", "remove", "dev-team"], "tenant remove dev-team"),
    "cluster-remove": (["cluster", "remove", "staging"], "cluster remove staging"),
}
SWEEP_FRACTIONS = tuple(round(0.1 * i, 1) for i in range(1, 10))
POINTS = [(name, f) for name in COMMANDS for f in SWEEP_FRACTIONS] if SWEEP \
    else [("tenant-add", 0.5)]


def run(argv: list[str], fleet: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flux_fleet", *argv, "--dir", str(fleet)],
                          env=env, capture_output=True, text=True, check=False)


def start(argv: list[str], fleet: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flux_fleet", *argv, "--dir", str(fleet)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real template repo tagged v1 and v2, and a committed fleet rendered at v1."""
    root = tmp_path_factory.mktemp("kill-anywhere")
    tpl = template_repo(root / "template")
    make_v2(tpl)
    pristine = new_fleet(tpl, root / "pristine", "v1")
    # a private cache: the bundled template never stands in for the test's template repo
    env = {**os.environ, "TMPDIR": str(root), "XDG_CACHE_HOME": str(root / "cache"),
           "GIT_ALLOW_PROTOCOL": "file"}
    return {"root": root, "pristine": pristine, "before": snapshot(pristine), "env": env,
            "worlds": {}}


def world(base: dict, name: str) -> dict:
    """The tree the command leaves when it runs to the end, and how long that run took."""
    if name not in base["worlds"]:
        argv, label = COMMANDS[name]
        done = base["root"] / f"done-{name}"
        shutil.copytree(base["pristine"], done, symlinks=True)
        began = time.monotonic()
        finished = run(argv, done, base["env"])
        took = time.monotonic() - began
        assert finished.returncode == 0, finished.stderr
        after = snapshot(done)
        assert after != base["before"], f"{name} changed nothing: the sweep would prove nothing"
        base["worlds"][name] = {**base, "argv": argv, "label": label, "after": after,
                                "took": took}
    return base["worlds"][name]


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
    assert nxt.returncode == 2, nxt.stderr
    assert f"an interrupted `flux-fleet {world['label']}`" in nxt.stderr, nxt.stderr
    other = tmp_path / "other"
    shutil.copytree(fleet, other, symlinks=True)
    assert run(["recover", "--rollback"], fleet, env).returncode == 0
    assert snapshot(fleet) == world["before"] and git.status(fleet).clean
    assert run(["recover", "--finish"], other, env).returncode == 0
    assert snapshot(other) == world["after"]
    return "interrupted"


def report(name: str, when: str, case: str) -> None:
    """One line per kill for the sweep's log (`-s` shows them)."""
    print(f"kill-sweep {name} at {when}: {case}")


@pytest.mark.parametrize(("name", "fraction"), POINTS)
def test_killed_at_a_moment_of_its_run(name: str, fraction: float, base: dict,
                                       tmp_path: Path) -> None:
    w = world(base, name)
    fleet = tmp_path / "fleet"
    shutil.copytree(w["pristine"], fleet, symlinks=True)
    proc = start(w["argv"], fleet, w["env"])
    try:
        proc.wait(timeout=w["took"] * fraction)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    report(name, f"{fraction:.1f} x {w['took']:.2f}s", check_after_kill(fleet, w, tmp_path))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_killed_the_moment_the_marker_appears(name: str, base: dict, tmp_path: Path) -> None:
    """The apply itself is milliseconds: poll for the marker and kill on sight. If the run
    still wins the race, the tree must be exactly after."""
    w = world(base, name)
    fleet = tmp_path / "fleet"
    shutil.copytree(w["pristine"], fleet, symlinks=True)
    proc = start(w["argv"], fleet, w["env"])
    seen = marker(fleet)
    while proc.poll() is None and not seen.exists():
        time.sleep(0.0005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    case = check_after_kill(fleet, w, tmp_path)
    report(name, "the marker", case)
    assert case in ("interrupted", "after")
