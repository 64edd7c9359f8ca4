"""Human output: findings grouped by file, ``file:line:col RULE message`` and a fix hint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flux_fleet.model import Finding, Severity, Skipped
from flux_fleet.validate.report import Reporter, summary

if TYPE_CHECKING:
    from flux_fleet.validate import ValidationResult

_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


class TextReporter(Reporter):
    """Prints each finding as it arrives; a blank line separates files."""

    _last_file: str | None = None

    def _c(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.ctx.color else text

    def write(self, finding: Finding) -> None:
        super().write(finding)
        if self._last_file is not None and finding.file != self._last_file:
            self.stream.write("\n")
        self._last_file = finding.file
        where = self._c("1", f"{finding.file}:{finding.line}:{finding.column}")
        color = _COLORS.get(finding.severity, "0")
        rule = self._c(color, f"{finding.rule} {finding.severity.value}")
        about = ", ".join(p for p in (finding.object, finding.path) if p)
        self.stream.write(f"{where} {rule}: {finding.message}"
                          + (f" [{about}]" if about else "") + "\n")
        if finding.hint:
            self.stream.write(f"    {self._c('2', 'fix:')} {finding.hint}\n")

    def finish(self, result: ValidationResult) -> None:
        if self.ctx.show_skipped and result.skipped:
            if self.findings:
                self.stream.write("\n")
            self.stream.write("Skipped (could not be checked offline):\n")
            for skipped in result.skipped:
                self.stream.write(_skip_line(skipped) + "\n")
        for note in result.notes:
            self.stream.write(f"{note}\n")
        if self.findings or (self.ctx.show_skipped and result.skipped) or result.notes:
            self.stream.write("\n")
        line = summary(result)
        if result.skipped and not self.ctx.show_skipped:
            line += " (--show-skipped lists what was skipped)"
        failed = result.failed
        self.stream.write(self._c("31;1" if failed else "32", line) + "\n")


def _skip_line(s: Skipped) -> str:
    obj = f" {s.object}" if s.object else ""
    return f"  {s.file}:{s.line}:{obj} skipped {s.what}: {s.reason}"
