"""Run one piece of pure Python work in a forked child while this process does another: two
cores, not one.

Copier and the validator's rules are pure Python, so two of their parts only overlap in two
processes: an answer-only change renders the old and the new answers (``scaffold``), and a
validation checks references while it checks tenancy (``validate``). A fork inherits what this
process has built (compiled Jinja, the parsed fleet) at no cost; the child hands back its
result pickled through a pipe (or only its files) and exits without running any of this
process's cleanup. The child dies with its parent (``PR_SET_PDEATHSIG``): a killed command
leaves no work running behind it. Where fork is not there, or other threads run (a fork would
copy their locks), ``start`` says no and the caller does the work itself; so does a caller
whose child fails, so that any error is raised where it would be without the fork.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_PR_SET_PDEATHSIG = 1


class ChildFailed(RuntimeError):
    """The child gave no result (it raised, or was killed): do the work in process."""


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the child still ends when its work does
        pass


@dataclass
class Child:
    pid: int
    reader: int  # the pipe the child writes its pickled result to

    def result(self) -> Any:
        """The value the child's work returned; ChildFailed when there is none."""
        chunks = []
        with os.fdopen(self.reader, "rb") as pipe:  # read first: a full pipe blocks the child
            while chunk := pipe.read(1 << 20):
                chunks.append(chunk)
        _, status = os.waitpid(self.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0 or not chunks:
            raise ChildFailed(f"child {self.pid} exited with status {status}")
        return pickle.loads(b"".join(chunks))

    def wait(self) -> bool:
        """Whether the child finished its work without an error."""
        try:
            self.result()
        except ChildFailed:
            return False
        return True

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self.reader)


def start(work: Callable[[], object]) -> Child | None:
    """``work()`` in a forked child, or None where this process cannot fork safely."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    parent = os.getpid()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid:
        os.close(writer)
        return Child(pid, reader)
    code = 1
    try:  # the child: no output of its own, only its result and the files it writes
        os.close(reader)
        _die_with_parent()
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)
        from flux_fleet import progress

        progress.stop()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - until os._exit
        data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(writer, "wb") as pipe:
            pipe.write(data)
        code = 0
    except BaseException:  # reported by the exit code; the parent does the work again
        code = 1
    finally:
        os._exit(code)
