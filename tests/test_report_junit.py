"""JUnit XML: parses, one failing test case per finding, skips as skipped cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from report_cases import CASES, IDS, Case, render


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_junit_report_parses_with_a_failure_per_finding(case: Case) -> None:
    root = ET.fromstring(render("junit", case))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    failures = suite.findall("testcase/failure")
    assert [(f.get("type"), f.get("message")) for f in failures] == [
        (x.severity.value, x.message) for x in sorted(case.findings)]
    assert int(suite.get("failures", "-1")) == len(case.findings)
    assert len(suite.findall("testcase/skipped")) == len(case.skipped)
    assert int(suite.get("tests", "0")) == len(suite.findall("testcase")) >= 1
