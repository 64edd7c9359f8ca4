"""The rule registry: one immutable Rule per stable code; its text *is* its docs page.

Codes are permanent and never reused. Ranges: FF1xx loading, FF2xx schemas, FF3xx kustomize
builds, FF4xx references, FF5xx tenancy, FF6xx answers/tree drift, FF7xx external validators
(kubeconform). Each owning module declares
its own ``RULES`` tuple; ``all_rules`` gathers them so docs, SARIF and --select share one table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from flux_fleet.model import Document, Finding, KObject, Path, Severity

RULE_MODULES = (
    "flux_fleet.validate.loader",
    "flux_fleet.validate.checks.schema",
    "flux_fleet.validate.checks.build",
    "flux_fleet.validate.staging",
    "flux_fleet.validate.checks.references",
    "flux_fleet.validate.checks.tenancy",
    "flux_fleet.validate.checks.drift",
    "flux_fleet.validate.kubeconform",
)

DOCS_URL = "https://github.com/flux-fleet/flux-fleet/blob/main/docs/rules.md"


def dotted(path: Path) -> str:
    """spec.sourceRef.name / spec.dependsOn[0].name — the way users read a key path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True)
class Rule:
    code: str
    name: str  # kebab-case, e.g. "missing-source-ref"
    severity: Severity
    summary: str  # what it checks, one line
    why: str  # why it matters
    fix: str  # the generic fix hint
    bad: str = ""  # YAML example that triggers it
    good: str = ""  # the fixed YAML
    status: str = "stable"
    since: str = "0.1.0"

    @property
    def help_uri(self) -> str:
        return f"{DOCS_URL}#{self.code.lower()}"

    def at(
        self,
        where: Document | KObject,
        path: Path = (),
        message: str | None = None,
        hint: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        """A finding of this rule at ``path`` inside a document or object."""
        doc = where.document if isinstance(where, KObject) else where
        line, col = where.locate(path)
        obj = str(where.id) if isinstance(where, KObject) else ""
        if isinstance(where, KObject) and where.built_by is not None:
            origin = f" (built by {where.built_by}" + (
                f" from {where.source_file})" if where.source_file else ")"
            )
            message = (message or self.summary) + origin
        return Finding(
            file=doc.file,
            line=line,
            column=col,
            rule=self.code,
            severity=severity or self.severity,
            message=message or self.summary,
            hint=self.fix if hint is None else hint,
            object=obj,
            path=dotted(path),
        )

    def at_file(self, file: str, line: int = 1, column: int = 1, message: str | None = None,
                hint: str | None = None) -> Finding:
        return Finding(file=file, line=line, column=column, rule=self.code, severity=self.severity,
                       message=message or self.summary, hint=self.fix if hint is None else hint)


def all_rules() -> dict[str, Rule]:
    """Every rule of every owning module, by code (import is lazy: the CLI stays fast)."""
    table: dict[str, Rule] = {}
    for name in RULE_MODULES:
        for rule in getattr(importlib.import_module(name), "RULES", ()):
            if rule.code in table:
                raise RuntimeError(f"duplicate rule code {rule.code} in {name}")
            table[rule.code] = rule
    return dict(sorted(table.items()))
