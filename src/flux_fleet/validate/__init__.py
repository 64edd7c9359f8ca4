"""The validate wing: load -> reconcile model -> schema / build / references / tenancy
checks -> report. It never imports the scaffold wing.

``validate`` and ``ValidationResult`` are the wing's entry points; they are imported on first
use, so that importing one module of the wing (the config, the loader) stays cheap.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module("flux_fleet.validate.run"), name)
