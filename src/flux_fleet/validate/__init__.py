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
    import importlib.util

    if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # a module of the wing
        return importlib.import_module(f"{__name__}.{name}")
    return getattr(importlib.import_module(f"{__name__}.run"), name)
