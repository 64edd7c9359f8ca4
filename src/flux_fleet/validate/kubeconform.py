"""Optional second opinion: kubeconform over the built output, with our schema store.

Runs only with ``--kubeconform`` and only when ``kubeconform`` is on PATH; otherwise the run
says "kubeconform: not on PATH, skipped" and carries on (it never pretends the tool ran).
Each Flux Kustomization's built objects go to one temporary file, so kubeconform's findings
map back to the Kustomization that builds them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flux_fleet.errors import ToolError
from flux_fleet.model import BuildKey, Document, Finding, KObject, Severity, Skipped
from flux_fleet.validate.rules import Rule

RULES: tuple[Rule, ...] = (
    Rule(
        code="FF701",
        name="kubeconform-invalid",
        severity=Severity.ERROR,
        summary="kubeconform rejects an object of the built output",
        why="With --kubeconform, the built output of every Flux Kustomization is also checked "
        "by kubeconform against the same schema store, as a second, independent validator; "
        "what it rejects would be rejected by the API server too.",
        fix="Fix the field kubeconform names in the object, at its source file",
        bad="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  replicas: 3\n",
        good='apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  replicas: "3"\n',
    ),
)

NOT_ON_PATH = "kubeconform: not on PATH, skipped"


class KubeconformError(ToolError):
    def __init__(self, cmd: Sequence[str], returncode: int, stderr: str = "") -> None:
        super().__init__("kubeconform", cmd, returncode, stderr)


@dataclass
class KubeconformResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ran: bool = False


def executable() -> str | None:
    return shutil.which("kubeconform")


def schema_locations(schemas_dir: Path) -> list[str]:
    """Go templates for our store's layout, ``{group}/{kind}_{version}.json``.

    Core kinds have an empty group; the second location covers stores that keep them at the
    top level.
    """
    d = Path(schemas_dir).resolve().as_posix()
    return [
        d + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
        d + "/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json",
    ]


def command(exe: str, schemas_dir: Path, files: Sequence[str], jobs: int = 0,
            strict: bool = True) -> list[str]:
    cmd = [exe, "-output", "json", "-ignore-missing-schemas"]
    if strict:
        cmd.append("-strict")
    for loc in schema_locations(schemas_dir):
        cmd += ["-schema-location", loc]
    if jobs > 0:
        cmd += ["-n", str(jobs)]
    return [*cmd, *files]


def parse_output(stdout: str, origin: Mapping[str, Document]) -> list[Finding]:
    """Findings from ``kubeconform -output json``; ``origin`` maps each input file to the
    Flux Kustomization document whose build it holds."""
    try:
        data = json.loads(stdout or "{}")
    except json.JSONDecodeError:
        return []
    rule = RULES[0]
    out: list[Finding] = []
    for res in data.get("resources") or []:
        status = str(res.get("status", ""))
        if status not in ("statusInvalid", "statusError"):
            continue
        doc = origin.get(str(res.get("filename", "")))
        if doc is None:
            continue
        what = f"{res.get('kind', '?')}/{res.get('name', '?')}"
        errors: list[dict[str, Any]] = res.get("validationErrors") or []
        if errors:
            for err in errors:
                out.append(rule.at(doc, (), message=f"kubeconform: {what}: "
                                   f"{err.get('path', '')}: {err.get('msg', '')}"))
        else:
            out.append(rule.at(doc, (), message=f"kubeconform: {what}: {res.get('msg', '')}"))
    return out


def run(built: Mapping[BuildKey, list[KObject]], schemas_dir: Path, jobs: int = 0,
        exe: str | None = None, timeout: float = 300.0) -> KubeconformResult:
    """Validate every build's output with kubeconform; a missing binary is a note, not a pass."""
    exe = exe or executable()
    result = KubeconformResult()
    if exe is None:
        result.notes.append(NOT_ON_PATH)
        return result
    with tempfile.TemporaryDirectory(prefix="flux-fleet-kubeconform-") as tmp:
        origin: dict[str, Document] = {}
        for i, (ks, objects) in enumerate(sorted(built.items())):
            if not objects:
                continue
            path = Path(tmp) / f"{i:04d}-{ks.id.namespace}-{ks.id.name}.yaml"
            path.write_text(yaml.safe_dump_all([o.data for o in objects], sort_keys=False))
            origin[str(path)] = objects[0].document
        if not origin:
            result.notes.append("kubeconform: nothing was built, nothing to check")
            return result
        cmd = command(exe, schemas_dir, sorted(origin), jobs)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise KubeconformError(cmd, -1, str(err)) from err
        if proc.returncode not in (0, 1) or (proc.returncode == 1 and not proc.stdout.strip()):
            raise KubeconformError(cmd, proc.returncode, proc.stderr)
        result.findings = parse_output(proc.stdout, origin)
        result.ran = True
        result.notes.append(f"kubeconform: checked the output of {len(origin)} builds")
    return result
