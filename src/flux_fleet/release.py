"""Which release of flux-fleet is running: shared by both wings (the template's history and
the reports' links name the same tag)."""

from __future__ import annotations


def release_tag(version: str) -> str | None:
    """The git tag a package version was built from, or None for a development build."""
    if not version or version == "0.0.0" or any(m in version for m in ("dev", "+")):
        return None
    return f"v{version}"
