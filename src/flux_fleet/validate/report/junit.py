"""JUnit XML, as GitLab, Jenkins and Azure Pipelines show test reports.

One test case per finding (class name = file, name = rule and position), one skipped test case
per skip, and a single passing case when the run is clean, so "0 tests" never reads as success
by accident. Only what the strict schemas (Jenkins xunit-plugin junit-10.xsd, Ant's format)
allow: the position lives in the name, not in ``file``/``line`` attributes; the skip count on
the ``testsuite``, not on ``testsuites``; the timestamp in UTC without a zone, as Ant writes it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from flux_fleet.validate.report import Reporter

if TYPE_CHECKING:
    from flux_fleet.validate import ValidationResult


class JUnitReporter(Reporter):
    def finish(self, result: ValidationResult) -> None:
        suites = ET.Element("testsuites", name="flux-fleet validate")
        suite = ET.SubElement(suites, "testsuite", name="flux-fleet",
                              timestamp=_ant_timestamp(result.started),
                              time=f"{result.stats.wall:.3f}")
        failures = 0
        for f in self.findings:
            case = ET.SubElement(suite, "testcase", classname=f.file,
                                 name=f"{f.rule} {f.file}:{f.line}:{f.column}", time="0")
            failure = ET.SubElement(case, "failure", type=f.severity.value, message=f.message)
            failure.text = "\n".join(x for x in (
                f"{f.file}:{f.line}:{f.column} {f.rule} {f.message}",
                f"object: {f.object}" if f.object else "",
                f"path: {f.path}" if f.path else "",
                f"fix: {f.hint}" if f.hint else "") if x)
            failures += 1
        for s in result.skipped:
            case = ET.SubElement(suite, "testcase", classname=s.file,
                                 name=f"{s.what} {s.file}:{s.line}", time="0")
            ET.SubElement(case, "skipped", message=f"skipped {s.what}: {s.reason}")
        if not self.findings:
            ET.SubElement(suite, "testcase", classname="flux-fleet",
                          name=f"validate {result.stats.files} files", time="0")
        tests = len(suite.findall("testcase"))
        for el in (suites, suite):
            el.set("tests", str(tests))
            el.set("failures", str(failures))
            el.set("errors", "0")
        suite.set("skipped", str(len(result.skipped)))
        suite.set("hostname", "localhost")
        ET.indent(suites)
        self.stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        self.stream.write(ET.tostring(suites, encoding="unicode"))
        self.stream.write("\n")


def _ant_timestamp(started: str) -> str:
    """ISO 8601 in UTC without a zone (``2026-01-01T00:00:00``): the strict schemas' pattern."""
    try:
        when = datetime.fromisoformat(started)
    except ValueError:
        when = datetime.now(timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.replace(microsecond=0).isoformat()
