"""Work done in a forked child: its result, its files, its failures, its death."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from flux_fleet import forked


def test_the_child_writes_its_files_and_says_it_finished(tmp_path: Path) -> None:
    out = tmp_path / "rendered.txt"
    child = forked.start(lambda: out.write_text("old answers\n"))

    assert child is not None and child.wait() is True
    assert out.read_text() == "old answers\n"


def test_a_child_that_fails_says_so_and_prints_nothing(tmp_path: Path, capfd) -> None:
    def broken() -> None:
        print("from the child")
        raise RuntimeError("template error")

    child = forked.start(broken)

    assert child is not None and child.wait() is False
    assert capfd.readouterr() == ("", "")  # the parent renders again and reports the error


def test_no_fork_while_other_threads_run() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert forked.start(lambda: None) is None  # the caller renders in series
    finally:
        stop.set()
        thread.join()


def test_a_killed_command_leaves_no_render_running(tmp_path: Path) -> None:
    marker = tmp_path / "late.txt"
    script = (
        "import os, sys, time\n"
        "from flux_fleet import forked\n"
        f"child = forked.start(lambda: (time.sleep(1.5), open({str(marker)!r}, 'w')))\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no handler of the parent runs
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"render child {pid} still running after its parent was killed")
    time.sleep(2)
    assert not marker.exists()


def test_the_child_hands_back_what_its_work_returned() -> None:
    child = forked.start(lambda: {"findings": [("FF401", "a.yaml", 3)], "n": 2 ** 70})

    assert child is not None
    assert child.result() == {"findings": [("FF401", "a.yaml", 3)], "n": 2 ** 70}


def test_a_result_larger_than_the_pipe_buffer_arrives_whole() -> None:
    child = forked.start(lambda: "x" * (8 << 20))

    assert child is not None and child.result() == "x" * (8 << 20)


def test_no_result_from_a_failed_child() -> None:
    import pytest

    child = forked.start(lambda: 1 / 0)

    assert child is not None
    with pytest.raises(forked.ChildFailed):
        child.result()


def test_validation_finds_the_same_with_the_references_in_a_child(
        tmp_path: Path, monkeypatch) -> None:
    """Large fleets check references in a forked child while tenancy runs here; a fleet with
    reference and substitution findings gives the same results either way."""
    import shutil as sh

    import pytest
    from test_build import SYNC, configmap, flux_ks
    from tree_files import write_tree

    from flux_fleet.validate import run
    from flux_fleet.validate.config import Config

    if not (sh.which("kustomize") or sh.which("kubectl")):
        pytest.skip("needs kustomize or kubectl")
    root = write_tree(tmp_path / "fleet", {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": "---\n".join([
            flux_ks("apps", "./apps", "  dependsOn:\n    - name: nowhere\n"),
            flux_ks("other", "./apps", source="no-such-repo"),
        ]),
        "apps/cm.yaml": configmap("cm", "  x: ${undefined}\n"),
    })
    used: list[object] = []
    real = forked.start

    def spy(work):  # type: ignore[no-untyped-def]
        used.append(real(work))
        return used[-1]

    monkeypatch.setattr(run, "_FORK_FROM", 0)
    monkeypatch.setattr(forked, "start", spy)
    in_child = run.validate(root)
    in_series = run.validate(root, Config(jobs=1))

    assert used and used[0] is not None, "the references were not checked in a child"
    assert len(used) == 1  # jobs=1: no fork
    assert {f.rule for f in in_child.findings} >= {"FF401"}
    assert in_child.findings == in_series.findings and in_child.skipped == in_series.skipped
