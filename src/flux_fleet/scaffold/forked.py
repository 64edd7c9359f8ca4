"""Run one render in a forked child while the parent renders another: two cores, not one.

An answer-only change renders the affected files twice (old and new answers); Copier is pure
Python, so the two renders only overlap in two processes. A fork inherits the compiled Jinja
and the patched Copier of ``copier_run``, so the child costs no start-up. The child dies with
its parent (``PR_SET_PDEATHSIG``): a killed command leaves no render running behind it, only
what a killed Copier leaves anyway (its scratch clone, swept later). Where fork is not there,
or threads are running (a fork would copy their locks), the caller renders in series.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the child still ends when its work does
        pass


@dataclass
class Child:
    pid: int

    def wait(self) -> bool:
        """Whether the child finished its work without an error."""
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status) == 0

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def start(work: Callable[[], object]) -> Child | None:
    """``work()`` in a forked child, or None where this process cannot fork safely."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return Child(pid)
    code = 1
    try:  # the child: no output of its own, only the files it writes
        _die_with_parent()
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)
        from flux_fleet import progress

        progress.stop()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - until os._exit
        work()
        code = 0
    except BaseException:  # reported by the exit code; the parent renders again
        code = 1
    finally:
        os._exit(code)
