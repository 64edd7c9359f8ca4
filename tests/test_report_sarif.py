"""SARIF 2.1.0: the shape code-scanning accepts, rules and helpUri from the registry."""

from __future__ import annotations

import json

import pytest
from report_cases import CASES, IDS, Case, render

from flux_fleet.validate import available_rules


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sarif_report_has_the_2_1_0_shape(case: Case) -> None:
    doc = json.loads(render("sarif", case))
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "flux-fleet"
    registry = available_rules()
    assert [r["id"] for r in driver["rules"]] == list(registry)
    for descriptor in driver["rules"]:
        rule = registry[descriptor["id"]]
        assert descriptor["helpUri"] == rule.help_uri
        assert descriptor["shortDescription"]["text"] == rule.summary
        assert descriptor["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = run["results"]
    assert len(results) == len(case.findings)
    for res, f in zip(results, sorted(case.findings), strict=True):
        assert res["ruleId"] == f.rule
        if f.rule in registry:
            assert driver["rules"][res["ruleIndex"]]["id"] == f.rule
        assert res["level"] == {"error": "error", "warning": "warning", "info": "note"}[f.severity]
        assert res["message"]["text"].startswith(f.message)
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == f.file
        assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert loc["region"] == {"startLine": f.line, "startColumn": f.column}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")
