"""GitHub annotations: one workflow command per finding, properties escaped."""

from __future__ import annotations

import re

import pytest
from report_cases import CASES, IDS, Case, render

from flux_fleet.validate.report.github import escape_data, escape_property

ANNOTATION = re.compile(
    r"^::(error|warning|notice) file=([^,:]*),line=(\d+),col=(\d+),title=(FF\d{3})::(.*)$")


def _unescape(text: str) -> str:
    return (text.replace("%0A", "\n").replace("%0D", "\r").replace("%3A", ":")
            .replace("%2C", ",").replace("%25", "%"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_github_report_is_one_annotation_per_finding(case: Case) -> None:
    lines = render("github", case).splitlines()
    assert len(lines) == len(case.findings)
    for line, f in zip(lines, sorted(case.findings), strict=True):
        m = ANNOTATION.match(line)
        assert m, line
        level, file, ln, col, rule, message = m.groups()
        assert level == {"error": "error", "warning": "warning", "info": "notice"}[f.severity]
        assert (_unescape(file), int(ln), int(col), rule) == (f.file, f.line, f.column, f.rule)
        assert _unescape(message).startswith(f.message)


@pytest.mark.parametrize(("raw", "data", "prop"), [
    ("plain", "plain", "plain"),
    ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
    ("50%\nnext\r", "50%25%0Anext%0D", "50%25%0Anext%0D"),
])
def test_github_escaping_follows_the_toolkit(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop
