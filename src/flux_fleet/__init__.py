"""flux-fleet: scaffold, validate and update multi-tenant Flux CD fleets."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``__version__`` on first use: importlib.metadata costs ~20 ms, and a validate run
    that prints text never needs it."""
    if name != "__version__":
        raise AttributeError(f"module 'flux_fleet' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("flux-fleet")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0"
    globals()["__version__"] = found
    return found
