"""Text report: grouped by file, file:line:col RULE message, fix hints, summary last."""

from __future__ import annotations

import io
import re

import pytest
from report_cases import CASES, IDS, Case, render, result_of

from flux_fleet.validate.report import summary, use_color

LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+) (?P<rule>FF\d{3}) "
                  r"(?P<sev>error|warning|info): (?P<msg>.*)$")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_text_report_lists_findings_by_file_then_the_summary(case: Case) -> None:
    out = render("text", case)
    assert "\x1b[" not in out  # no colour unless asked (not a TTY here)
    lines = out.splitlines()
    assert lines[-1].startswith("3 files, 7 documents, 2 Kustomizations built, ")
    assert " in 0.42s" in lines[-1]
    matched = [m for m in map(LINE.match, lines) if m]
    assert [(m["file"], int(m["line"]), int(m["col"]), m["rule"]) for m in matched] == [
        (f.file, f.line, f.column, f.rule) for f in sorted(case.findings)]
    for f in case.findings:
        if f.hint:
            assert f"    fix: {f.hint}" in lines
    if case.skipped:
        assert "--show-skipped" in lines[-1]


def test_text_report_separates_files_with_a_blank_line() -> None:
    case = CASES[2]  # error and warning in two files
    lines = render("text", case).splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("tenants/"))
    assert lines[first - 1] == ""


def test_show_skipped_lists_each_skip_with_its_reason() -> None:
    case = CASES[4]
    out = render("text", case, show_skipped=True)
    assert "clusters/staging/secret.yaml:1: Secret/flux-system/git skipped sops: SOPS-encrypted" \
        in out


def test_colour_only_when_asked() -> None:
    out = render("text", CASES[1], color=True)
    assert "\x1b[31m" in out and out.rstrip().endswith("\x1b[0m")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_needs_a_terminal_and_no_NO_COLOR(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(_Tty()) is True
    assert use_color(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(_Tty()) is False


def test_summary_line_counts_everything() -> None:
    result = result_of(CASES[5])
    assert summary(result) == ("3 files, 7 documents, 2 Kustomizations built, 1 skipped, "
                               "2 errors, 1 warning in 0.42s")
