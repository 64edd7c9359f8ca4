"""Reporters: streaming output plugins, one module per format.

A reporter receives every finding (``write``) and every skip (``skip``) in file order, then the
run's result (``finish``), where formats that need the whole picture (JSON, SARIF, JUnit) write.
The exit status is not the reporter's business: it is derived from the result.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from flux_fleet.model import Finding, Severity, Skipped

if TYPE_CHECKING:
    from flux_fleet.validate import ValidationResult
    from flux_fleet.validate.rules import Rule

#: format name -> "module:class"
FORMATS: dict[str, str] = {
    "text": "flux_fleet.validate.report.text:TextReporter",
    "json": "flux_fleet.validate.report.json:JsonReporter",
    "junit": "flux_fleet.validate.report.junit:JUnitReporter",
    "sarif": "flux_fleet.validate.report.sarif:SarifReporter",
    "github": "flux_fleet.validate.report.github:GithubReporter",
}


@dataclass
class ReportContext:
    """What every reporter may need besides the results themselves."""

    rules: dict[str, Rule] = field(default_factory=dict)
    tool_version: str | None = None  # None: this package's, looked up when a format shows it
    color: bool = False
    show_skipped: bool = False
    root: str = ""


    @property
    def version(self) -> str:
        if self.tool_version is None:
            import flux_fleet

            self.tool_version = flux_fleet.__version__
        return self.tool_version


class Reporter:
    """Base reporter: collects; subclasses print as they go or at ``finish``."""

    def __init__(self, stream: TextIO, ctx: ReportContext) -> None:
        self.stream = stream
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.skipped: list[Skipped] = []

    def write(self, finding: Finding) -> None:
        self.findings.append(finding)

    def skip(self, skipped: Skipped) -> None:
        self.skipped.append(skipped)

    def finish(self, result: ValidationResult) -> None:
        """Called once, after the last finding."""


def make_reporter(fmt: str, stream: TextIO, ctx: ReportContext) -> Reporter:
    module, attr = FORMATS[fmt].split(":")
    cls = getattr(importlib.import_module(module), attr)
    return cls(stream, ctx)


def use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def summary(result: ValidationResult) -> str:
    """N files, N documents, N Kustomizations built, N skipped, N errors, N warnings in 0.42s."""
    s = result.stats
    parts = [
        _plural(s.files, "file"),
        _plural(s.documents, "document"),
        _plural(s.built, "Kustomization") + " built",
        f"{s.skipped} skipped",
        _plural(s.by_severity.get(Severity.ERROR, 0), "error"),
        _plural(s.by_severity.get(Severity.WARNING, 0), "warning"),
    ]
    info = s.by_severity.get(Severity.INFO, 0)
    if info:
        parts.append(f"{info} info")
    if s.suppressed:
        parts.append(f"{s.suppressed} suppressed")
    return ", ".join(parts) + f" in {s.wall:.2f}s"
