"""Shared table for the reporter tests: each case is a run's findings and skips."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from flux_fleet.model import Finding, Severity, Skipped
from flux_fleet.validate import Stats, ValidationResult, available_rules
from flux_fleet.validate.config import Config
from flux_fleet.validate.report import ReportContext, make_reporter


@dataclass
class Case:
    name: str
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


MISSING_SOURCE = Finding(
    file="clusters/staging/apps.yaml", line=12, column=5, rule="FF401", severity=Severity.ERROR,
    message="sourceRef GitRepository/flux-system/apps not found", hint="create the GitRepository",
    object="Kustomization/flux-system/apps", path="spec.sourceRef.name")
CLUSTER_ADMIN = Finding(
    file="tenants/base/dev-team/rbac.yaml", line=3, column=1, rule="FF504",
    severity=Severity.WARNING, message="RoleBinding to cluster-admin, with a comma: and colon",
    hint="bind 'admin' instead")
AWKWARD = Finding(
    file="odd dir/100%,a:b.yaml", line=1, column=1, rule="FF101", severity=Severity.ERROR,
    message="line one\nline two <&> \"quoted\" 100%", hint="")
SOPS = Skipped(file="clusters/staging/secret.yaml", line=1, what="sops",
               reason="SOPS-encrypted values cannot be checked offline",
               object="Secret/flux-system/git")

CASES = [
    Case("clean"),
    Case("one error", [MISSING_SOURCE]),
    Case("error and warning in two files", [MISSING_SOURCE, CLUSTER_ADMIN]),
    Case("escaping", [AWKWARD]),
    Case("skips only", [], [SOPS]),
    Case("everything", [MISSING_SOURCE, CLUSTER_ADMIN, AWKWARD], [SOPS]),
]
IDS = [c.name for c in CASES]


def result_of(case: Case, strict: bool = False) -> ValidationResult:
    stats = Stats(files=3, documents=7, built=2, skipped=len(case.skipped), wall=0.42)
    for f in case.findings:
        stats.by_severity[f.severity] += 1
    return ValidationResult(root="/repo", config=Config(strict=strict),
                            findings=sorted(case.findings), skipped=list(case.skipped),
                            stats=stats, started="2026-01-01T00:00:00+00:00")


def render(fmt: str, case: Case, **ctx: object) -> str:
    """Feed a case through a reporter exactly as the command does, return its output."""
    result = result_of(case)
    out = io.StringIO()
    ctx = {"tool_version": "1.2.3", **ctx}
    reporter = make_reporter(fmt, out, ReportContext(rules=available_rules(), root="/repo",
                                                     **ctx))  # type: ignore[arg-type]
    for f in result.findings:
        reporter.write(f)
    for s in result.skipped:
        reporter.skip(s)
    reporter.finish(result)
    return out.getvalue()
