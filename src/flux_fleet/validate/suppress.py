"""Inline suppression comments, read only from files that have findings.

    replicas: 3  # flux-fleet: ignore FF402          (this line)
    # flux-fleet: ignore FF402, FF403                (the next line that is not a comment)
    # flux-fleet: ignore-file FF202                  (the whole file, anywhere in it)

A comment without codes suppresses every rule at that place. Only real YAML comments count:
the same text inside a quoted or block scalar is data (a tenant could otherwise silence a whole
file from a value). Suppressions are data (``Suppressions``) built by a pure function of the
text, so they are easy to test.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

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


def _scalar_spans(text: str) -> tuple[list[int], list[int]]:
    """(starts, ends) of the scalars in ``text``, as character offsets; a YAML error ends
    the scan (what follows it is not YAML, so a ``#`` there is taken as written)."""
    starts: list[int] = []
    ends: list[int] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.ScalarToken):
                starts.append(token.start_mark.index)
                ends.append(token.end_mark.index)
    except yaml.YAMLError:
        pass
    return starts, ends


def _in_scalar(offset: int, spans: tuple[list[int], list[int]]) -> bool:
    i = bisect.bisect_right(spans[0], offset) - 1
    return i >= 0 and offset < spans[1][i]


def _comment(line: str, offset: int, spans: tuple[list[int], list[int]]) -> re.Match[str] | None:
    """The suppression comment on a line, if it is a real comment (not scalar text)."""
    for match in _COMMENT.finditer(line):
        if not _in_scalar(offset + match.start(), spans):
            return match
    return None


def parse(text: str) -> Suppressions:
    """The suppressions a file's text declares."""
    out = Suppressions()
    if "flux-fleet:" not in text:
        return out
    spans = _scalar_spans(text)
    pending: set[str] = set()  # from standalone comment lines, for the next code line
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        here_at = offset
        offset += len(line)
        line = line.rstrip("\r\n")
        stripped = line.strip()
        match = _comment(line, here_at, spans)
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
