"""Inline suppression comments, read only from files that have findings.

    replicas: 3  # flux-fleet: ignore FF402          (this line)
    # flux-fleet: ignore FF402, FF403                (the next line that is not a comment)
    # flux-fleet: ignore-file FF202                  (the whole file, anywhere in it)

A comment without codes suppresses every rule at that place. Suppressions are data
(``Suppressions``) built by a pure function of the text, so they are easy to test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from flux_fleet.model import Finding

ALL = "*"
_COMMENT = re.compile(r"#\s*flux-fleet:\s*(ignore-file|ignore)\b([^#\n]*)")
_CODE = re.compile(r"[A-Z]+[0-9]+")


@dataclass
class Suppressions:
    """What one file suppresses: for the whole file, and per 1-based line."""

    file_codes: set[str] = field(default_factory=set)
    line_codes: dict[int, set[str]] = field(default_factory=dict)

    def covers(self, finding: Finding) -> bool:
        for codes in (self.file_codes, self.line_codes.get(finding.line, ())):
            if ALL in codes or finding.rule in codes:
                return True
        return False


def _codes(text: str) -> set[str]:
    found = set(_CODE.findall(text.upper()))
    return found or {ALL}


def parse(text: str) -> Suppressions:
    """The suppressions a file's text declares."""
    out = Suppressions()
    if "flux-fleet:" not in text:
        return out
    pending: set[str] = set()  # from standalone comment lines, for the next code line
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        match = _COMMENT.search(line)
        if match is not None and match.group(1) == "ignore-file":
            out.file_codes |= _codes(match.group(2))
            continue
        if stripped.startswith("#") or not stripped:
            if match is not None:
                pending |= _codes(match.group(2))
            continue
        here = set(pending)
        pending = set()
        if match is not None:
            here |= _codes(match.group(2))
        if here:
            out.line_codes[number] = here
    return out


def apply(findings: Iterable[Finding], root: Path) -> tuple[list[Finding], list[Finding]]:
    """Split findings into (kept, suppressed), reading each file with findings once."""
    cache: dict[str, Suppressions] = {}
    kept: list[Finding] = []
    dropped: list[Finding] = []
    for finding in findings:
        sup = cache.get(finding.file)
        if sup is None:
            sup = cache[finding.file] = _read(root, finding.file)
        (dropped if sup.covers(finding) else kept).append(finding)
    return kept, dropped


def _read(root: Path, file: str) -> Suppressions:
    path = Path(root) / file
    try:
        path.resolve().relative_to(Path(root).resolve())  # never read outside the repository
        raw = path.read_bytes()
    except (OSError, ValueError):
        return Suppressions()
    if b"flux-fleet:" not in raw:
        return Suppressions()
    return parse(raw.decode("utf-8", "replace"))
