"""Where the bundled template and schema store live: inside the wheel, or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
_CHECKOUT = _HERE.parents[1]  # src/flux_fleet -> repository root


def template_dir() -> Path:
    """The Copier template root (holds copier.yml): bundled copy first, then the checkout."""
    for candidate in (_HERE / "_template", _CHECKOUT):
        if (candidate / "copier.yml").is_file() and (candidate / "template").is_dir():
            return candidate
    raise FileNotFoundError("flux-fleet's bundled Copier template is missing; reinstall flux-fleet")


def schemas_dir() -> Path:
    """The JSON Schema store in kubeconform's layout: bundled copy first, then the checkout."""
    for candidate in (_HERE / "_schemas", _CHECKOUT / "schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("flux-fleet's bundled schema store is missing; reinstall flux-fleet")
