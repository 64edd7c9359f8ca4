"""Machine output: one JSON document with findings, skips and the run's statistics."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from flux_fleet.model import Finding, Skipped
from flux_fleet.validate.report import Reporter

if TYPE_CHECKING:
    from flux_fleet.validate import ValidationResult

SCHEMA_VERSION = 1


def finding_dict(f: Finding) -> dict[str, Any]:
    out = asdict(f)
    out["severity"] = f.severity.value
    return out


def skipped_dict(s: Skipped) -> dict[str, Any]:
    return asdict(s)


class JsonReporter(Reporter):
    """Writes everything at ``finish``: a JSON document cannot be streamed half-way."""

    def finish(self, result: ValidationResult) -> None:
        doc = {
            "version": SCHEMA_VERSION,
            "tool": {"name": "flux-fleet", "version": self.ctx.version},
            "root": self.ctx.root,
            "failed": result.failed,
            "summary": result.stats.as_dict(),
            "findings": [finding_dict(f) for f in self.findings],
            "skipped": [skipped_dict(s) for s in result.skipped],
            "notes": list(result.notes),
        }
        json.dump(doc, self.stream, indent=2, sort_keys=False)
        self.stream.write("\n")
