"""SARIF 2.1.0 for code-scanning UIs; rule descriptions and helpUri come from the registry.

``helpUri`` points at the docs of the version that ran (its release tag; ``main`` only for a
development build), so an old alert explains the rule as that version applied it.
``partialFingerprints`` lets code scanning follow one finding across commits (SARIF 2.1.0
§3.27.17; GitHub matches results on them): it hashes what identifies the finding, rule, file,
object and key path, and never the line, which moves whenever something above it changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from flux_fleet.model import Severity
from flux_fleet.release import release_tag
from flux_fleet.validate.report import Reporter
from flux_fleet.validate.rules import DOCS_URL

if TYPE_CHECKING:
    from flux_fleet.model import Finding
    from flux_fleet.validate import ValidationResult
    from flux_fleet.validate.rules import Rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/flux-fleet/flux-fleet"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
#: the partialFingerprints key; bump the suffix if what goes into the hash ever changes
FINGERPRINT = "flux-fleet/v1"


def help_uri(rule: Rule, version: str) -> str:
    """The rule's docs at the tag ``version`` was released from, at ``main`` for a dev build."""
    tag = release_tag(version)
    uri = rule.help_uri
    return uri.replace("/blob/main/", f"/blob/{tag}/", 1) if tag and uri.startswith(DOCS_URL) \
        else uri


def fingerprints(findings: list[Finding]) -> list[str]:
    """One stable hash per finding: rule, file, object, key path, then the occurrence of that
    same key among the findings in file order (two FF101 in one file stay two alerts)."""
    seen: dict[str, int] = {}
    out = []
    for f in findings:
        key = "\x1f".join((f.rule, f.file, f.object, f.path))
        seen[key] = seen.get(key, 0) + 1
        out.append(hashlib.sha256(f"{key}\x1f{seen[key]}".encode()).hexdigest()[:32])
    return out


def rule_descriptor(rule: Rule, version: str = "") -> dict[str, Any]:
    uri = help_uri(rule, version)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {"text": rule.fix,
                 "markdown": f"{rule.fix}\n\n[{rule.code} docs]({uri})"},
        "helpUri": uri,
        "defaultConfiguration": {"level": _LEVEL.get(rule.severity, "warning")},
        "properties": {"status": rule.status, "since": rule.since},
    }


class SarifReporter(Reporter):
    def finish(self, result: ValidationResult) -> None:
        rules = dict(self.ctx.rules)
        index = {code: i for i, code in enumerate(rules)}
        results = []
        for f, fingerprint in zip(self.findings, fingerprints(self.findings), strict=True):
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
                "partialFingerprints": {FINGERPRINT: fingerprint},
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
                    "rules": [rule_descriptor(r, self.ctx.version) for r in rules.values()],
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
