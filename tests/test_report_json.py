"""JSON report: loads, and carries every finding, skip and the summary."""

from __future__ import annotations

import json

import pytest
from report_cases import CASES, IDS, Case, render


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_json_report_round_trips_every_finding(case: Case) -> None:
    doc = json.loads(render("json", case))
    assert doc["tool"] == {"name": "flux-fleet", "version": "1.2.3"}
    assert [(f["file"], f["line"], f["column"], f["rule"], f["severity"], f["message"])
            for f in doc["findings"]] == [
        (f.file, f.line, f.column, f.rule, f.severity.value, f.message)
        for f in sorted(case.findings)]
    assert [s["reason"] for s in doc["skipped"]] == [s.reason for s in case.skipped]
    assert doc["summary"]["errors"] == sum(f.severity.value == "error" for f in case.findings)
    assert doc["failed"] is any(f.severity.value == "error" for f in case.findings)
