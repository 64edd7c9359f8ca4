"""The old answers' render runs in a forked child: its files, its failures, its death."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from flux_fleet.scaffold import forked


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
        "from flux_fleet.scaffold import forked\n"
        f"child = forked.start(lambda: (time.sleep(3), open({str(marker)!r}, 'w')))\n"
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
    time.sleep(3.5)
    assert not marker.exists()
