"""JUnit XML: parses, one failing test case per finding, skips as skipped cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from report_cases import CASES, IDS, Case, render

DATA = Path(__file__).parent / "data"


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


@pytest.fixture(scope="module")
def strict_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(DATA / "junit.xsd"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_junit_report_validates_against_the_strict_schema(
        case: Case, strict_schema: xmlschema.XMLSchema) -> None:
    strict_schema.validate(render("junit", case))


def test_the_strict_schema_refuses_what_it_should(strict_schema: xmlschema.XMLSchema) -> None:
    """The schema is strict where the old report was wrong: file/line on testcase, skipped on
    testsuites, a zoned timestamp (so the test above can fail)."""
    good = render("junit", CASES[-1])
    for bad in (good.replace('<testcase ', '<testcase file="a.yaml" line="3" ', 1),
                good.replace("<testsuites ", '<testsuites skipped="1" ', 1),
                good.replace('timestamp="2026-01-01T00:00:00"',
                             'timestamp="2026-01-01T00:00:00+00:00"')):
        assert bad != good
        assert not strict_schema.is_valid(bad)
