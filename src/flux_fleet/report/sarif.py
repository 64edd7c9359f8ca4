"""SARIF 2.1.0 for code-scanning UIs; rule descriptions and helpUri come from the registry."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flux_fleet.model import Severity
from flux_fleet.report import Reporter

if TYPE_CHECKING:
    from flux_fleet.rules import Rule
    from flux_fleet.validate import ValidationResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/flux-fleet/flux-fleet"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {"text": rule.fix,
                 "markdown": f"{rule.fix}\n\n[{rule.code} docs]({rule.help_uri})"},
        "helpUri": rule.help_uri,
        "defaultConfiguration": {"level": _LEVEL.get(rule.severity, "warning")},
        "properties": {"status": rule.status, "since": rule.since},
    }


class SarifReporter(Reporter):
    def finish(self, result: ValidationResult) -> None:
        rules = dict(self.ctx.rules)
        index = {code: i for i, code in enumerate(rules)}
        results = []
        for f in self.findings:
            message = f.message + (f" [{f.object}]" if f.object else "")
            item: dict[str, Any] = {
                "ruleId": f.rule,
                "level": _LEVEL.get(f.severity, "warning"),
                "message": {"text": message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": max(1, f.line), "startColumn": max(1, f.column)},
                    },
                }],
            }
            if f.rule in index:
                item["ruleIndex"] = index[f.rule]
            props = {k: v for k, v in (("object", f.object), ("path", f.path),
                                        ("fix", f.hint)) if v}
            if props:
                item["properties"] = props
            results.append(item)
        doc = {
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "flux-fleet",
                    "version": self.ctx.version,
                    "informationUri": INFORMATION_URI,
                    "rules": [rule_descriptor(r) for r in rules.values()],
                }},
                "originalUriBaseIds": {"%SRCROOT%": {"uri": _dir_uri(self.ctx.root)}}
                if self.ctx.root else {},
                "results": results,
                "invocations": [{"executionSuccessful": True,
                                 "toolExecutionNotifications": [
                                     {"level": "note", "message": {"text": n}}
                                     for n in result.notes]}],
            }],
        }
        json.dump(doc, self.stream, indent=2)
        self.stream.write("\n")


def _dir_uri(root: str) -> str:
    from pathlib import Path

    return Path(root).resolve().as_uri() + "/"
