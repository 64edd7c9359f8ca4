"""Fail a test that hangs, without turning it into a speed test.

Hostile input (alias bombs, deep nesting, huge files) must be stopped by limits, not by luck.
A test proves that by getting a result at all; this guard only turns a hang into a failure,
with a bound generous enough for a loaded CI machine. Speed is measured in bench/.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
HANG_SECONDS = 30.0


def finishes(fn: Callable[..., T], *args: Any, within: float = HANG_SECONDS, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, or an AssertionError when it has not returned ``within`` s."""
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(within)
    if worker.is_alive():
        raise AssertionError(f"{getattr(fn, '__name__', fn)} did not finish within {within} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
