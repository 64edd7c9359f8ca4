"""Write a small repository from a {relative path: content} mapping (shared by the tests)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path


def write_tree(root: Path, files: Mapping[str, str | bytes], *, dedent: bool = False) -> Path:
    """Create each file (and its folders) under ``root``; ``dedent`` strips the common indent
    and leading newline of text written inline in a test."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n") if dedent else content)
    return root
