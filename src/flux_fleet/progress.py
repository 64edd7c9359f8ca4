"""Progress of long commands: phases and counts on a terminal's stderr, nothing anywhere else.

``new`` of a large fleet, ``validate``, ``tenant add`` and ``update`` can take tens of seconds;
on a terminal a silent wait reads as a hang. A pipe, a CI log, a pre-commit hook or ``--quiet``
gets nothing extra, so scripted output stays the same. One finished line per phase (never a
line redrawn in place), so it cannot garble what the command itself prints on the same terminal.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

_stream: TextIO | None = None
_start = 0.0


def start(stream: TextIO | None = None, *, quiet: bool = False) -> bool:
    """Report phases on ``stream`` (stderr) from now on, if it is a terminal and not ``quiet``."""
    global _stream, _start
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    on = not quiet and bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"
    _stream, _start = (stream if on else None), time.monotonic()
    return on


def stop() -> None:
    global _stream
    _stream = None


def active() -> bool:
    """Whether phases are shown (skip computing counts that only a progress line needs)."""
    return _stream is not None


def phase(text: str) -> None:
    """One line: elapsed time and what the command is doing now (with its counts)."""
    if _stream is None:
        return
    try:
        _stream.write(f"[{time.monotonic() - _start:5.1f}s] {text}\n")
        _stream.flush()
    except (OSError, ValueError):  # a closed terminal never fails the command
        stop()


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
