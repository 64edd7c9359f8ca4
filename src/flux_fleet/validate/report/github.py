"""GitHub Actions workflow commands: ``::error file=...,line=...,col=...,title=RULE::msg``.

Each finding becomes an annotation on the pull request's diff; the summary goes to stderr so
it shows in the log without being parsed as a command.
"""

from __future__ import annotations

from flux_fleet.model import Finding, Severity
from flux_fleet.validate.report import Reporter

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message (GitHub's toolkit escapeData)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property value (GitHub's toolkit escapeProperty)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding) -> str:
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in (
        ("file", f.file), ("line", f.line), ("col", f.column), ("title", f.rule)))
    message = f.message + (f" [{f.object}]" if f.object else "") + (
        f" (fix: {f.hint})" if f.hint else "")
    return f"::{_LEVEL.get(f.severity, 'error')} {props}::{escape_data(message)}"


class GithubReporter(Reporter):
    def write(self, finding: Finding) -> None:
        super().write(finding)
        self.stream.write(annotation(finding) + "\n")
