"""SARIF 2.1.0: the shape code-scanning accepts, rules and helpUri from the registry."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
from report_cases import CASES, IDS, MISSING_SOURCE, Case, render

from flux_fleet.validate import available_rules

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


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
        # render() runs as version 1.2.3: the docs of that tag, not of main
        assert descriptor["helpUri"] == rule.help_uri.replace("/blob/main/", "/blob/v1.2.3/")
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


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sarif_report_validates_against_the_2_1_0_schema(case: Case) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(json.loads(render("sarif", case)))


def test_the_schema_refuses_a_result_without_a_message() -> None:
    doc = json.loads(render("sarif", CASES[1]))
    del doc["runs"][0]["results"][0]["message"]
    assert not jsonschema.Draft4Validator(SCHEMA).is_valid(doc)


@pytest.mark.parametrize(("version", "ref"), [("1.2.3", "v1.2.3"), ("0.4.0rc1", "v0.4.0rc1"),
                                              ("0.0.1.dev75+g6a1da4c", "main"), ("0.0.0", "main")])
def test_help_uri_points_at_the_version_that_ran(version: str, ref: str) -> None:
    doc = json.loads(render("sarif", CASES[0], tool_version=version))
    uris = {d["helpUri"] for d in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert uris and all(f"/blob/{ref}/docs/rules.md#ff" in u for u in uris)


def _fingerprint(*findings: object) -> list[str]:
    doc = json.loads(render("sarif", Case("x", list(findings))))  # type: ignore[arg-type]
    return [r["partialFingerprints"]["flux-fleet/v1"] for r in doc["runs"][0]["results"]]


def test_partial_fingerprints_follow_a_finding_across_commits() -> None:
    """A line that moves keeps the alert; another object, key or file is another alert; the
    same key twice in one file stays two alerts."""
    (base,) = _fingerprint(MISSING_SOURCE)
    moved = dataclasses.replace(MISSING_SOURCE, line=40, column=9, message="reworded")
    assert _fingerprint(moved) == [base]
    for other in (dataclasses.replace(MISSING_SOURCE, object="Kustomization/flux-system/x"),
                  dataclasses.replace(MISSING_SOURCE, path="spec.sourceRef.kind"),
                  dataclasses.replace(MISSING_SOURCE, file="clusters/prod/apps.yaml"),
                  dataclasses.replace(MISSING_SOURCE, rule="FF402")):
        assert _fingerprint(other) != [base]
    twice = _fingerprint(MISSING_SOURCE, dataclasses.replace(MISSING_SOURCE, line=30))
    assert twice[0] == base and twice[1] != base
