"""Run `flux-fleet validate` over checkouts of real public Flux repositories.

    python bench/real_fleets.py /work/fleets              # one block per repository, then a total
    python bench/real_fleets.py /work/fleets --only d2    # only folders whose name has "d2"
    python bench/real_fleets.py /work/fleets --json       # machine output (one JSON document)

Every subfolder of the given folder is one checkout (a git working tree; its HEAD commit is
reported). Each is validated with a full run (builds included) of the `flux-fleet` found next to
this Python interpreter (the current venv), in a subprocess with a timeout, one at a time. Printed
per repository: commit, exit code, wall time, findings by rule, skipped by `what` and a short
reason class, and the Flux builds done (`summary.kustomizations_built` / `kustomize_builds`).

No network: the checkouts are read as they are. The repositories' files are never committed
here; see docs/real-fleets.md for the triage of what this reports.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FLUX_FLEET = Path(sys.executable).with_name("flux-fleet")

#: What some repositories' CI does and the repository cannot say (``.flux-fleet.yaml``
#: ``sync:``), written into a checkout that has no config file of its own. xunholy/k8s-gitops:
#: ``.github/workflows/oci.yaml`` runs ``flux push artifact --path=./kubernetes``, and its
#: FluxInstance (chart values) syncs that artifact at ``./clusters/cluster-00``.
DECLARED = {
    "xunholy__k8s-gitops": (
        "sync:\n"
        "  - source: OCIRepository/flux-system\n"
        "    folder: kubernetes\n"
        "    path: ./clusters/cluster-00\n"
        "    ignore: [sops-gpg.encrypted.yaml, sops-age.encrypted.yaml, .sops.pub.asc]\n"
    ),
}


@dataclass
class RepoResult:
    name: str
    commit: str
    exit_code: int
    wall: float
    findings: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # "what: reason class" -> count
    kustomizations_built: int = 0
    kustomize_builds: int = 0
    error: str = ""  # set when the run produced no JSON (timeout, crash)


def reason_class(reason: str) -> str:
    """A short, stable class of a skip reason: its words, without the names, paths and lists."""
    head, _, tail = reason.partition(":")
    if "/" in head and " " not in head.strip():  # "Kind/ns/name: why" -> "why"
        head = tail
    head = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "…", head)
    head = re.sub(r"[\w.${}-]+(?:, [\w.${}-]+)+", "…", head)  # lists of names: one mark
    words = [w for i, w in enumerate(head.split())
             if "/" not in w and not re.search(r"\d|[a-z][A-Z]", w)
             and not (i and w[:1].isupper())]
    return " ".join(words[:6]) or reason[:40]


def commit_of(repo: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=10", "HEAD"],
                             capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip() or "?"


def run_one(repo: Path, timeout: float, extra: list[str]) -> RepoResult:
    config = repo / ".flux-fleet.yaml"
    if repo.name in DECLARED and not config.exists():
        config.write_text(DECLARED[repo.name])
    cmd = [str(FLUX_FLEET), "validate", "--format", "json", *extra, str(repo)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=repo)
    except subprocess.TimeoutExpired:
        return RepoResult(repo.name, commit_of(repo), -1, time.perf_counter() - start,
                          error=f"timeout after {timeout:.0f}s")
    wall = time.perf_counter() - start
    res = RepoResult(repo.name, commit_of(repo), proc.returncode, wall)
    try:
        doc: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        res.error = (proc.stderr.strip().splitlines() or ["no JSON output"])[-1][:200]
        return res
    findings = doc.get("findings", [])
    res.findings = len(findings)
    res.by_rule = dict(sorted(Counter(f["rule"] for f in findings).items()))
    res.by_severity = dict(Counter(f["severity"] for f in findings))
    skips = Counter(f"{s['what']}: {reason_class(s['reason'])}" for s in doc.get("skipped", []))
    res.skipped = dict(skips.most_common())
    summary = doc.get("summary", {})
    res.kustomizations_built = int(summary.get("kustomizations_built", 0))
    res.kustomize_builds = int(summary.get("kustomize_builds", 0))
    return res


def print_text(results: list[RepoResult]) -> None:
    for r in results:
        sev = ", ".join(f"{k} {v}" for k, v in sorted(r.by_severity.items()))
        print(f"== {r.name} @ {r.commit}  exit {r.exit_code}  {r.wall:.1f}s")
        if r.error:
            print(f"   ERROR: {r.error}")
        print(f"   findings {r.findings}" + (f" ({sev})" if sev else ""))
        if r.by_rule:
            print("   by rule: " + ", ".join(f"{k} {v}" for k, v in r.by_rule.items()))
        print(f"   builds: {r.kustomizations_built} Flux Kustomizations built, "
              f"{r.kustomize_builds} kustomize builds")
        for k, v in r.skipped.items():
            print(f"   skipped {v:4d}  {k}")
    rules: Counter[str] = Counter()
    for r in results:
        rules.update(r.by_rule)
    total = sum(r.findings for r in results)
    print(f"== TOTAL {len(results)} repositories: {total} findings, "
          f"{sum(sum(r.skipped.values()) for r in results)} skipped, "
          f"{sum(r.kustomizations_built for r in results)} Kustomizations built, "
          f"{sum(r.wall for r in results):.1f}s; failed runs "
          f"{sum(1 for r in results if r.error)}")
    if rules:
        print("   by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(rules.items())))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="folder whose subfolders are repository checkouts")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="only checkouts whose folder name contains NAME (repeatable)")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per repository")
    ap.add_argument("--arg", action="append", default=[], metavar="ARG",
                    help="extra argument passed to flux-fleet validate (repeatable)")
    args = ap.parse_args(argv)
    if not FLUX_FLEET.exists():
        print(f"flux-fleet not found next to {sys.executable}", file=sys.stderr)
        return 2
    repos = sorted(p for p in args.folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if args.only:
        repos = [p for p in repos if any(n in p.name for n in args.only)]
    results = []
    for repo in repos:  # one at a time: the machine is shared
        print(f"validating {repo.name} ...", file=sys.stderr, flush=True)
        results.append(run_one(repo, args.timeout, args.arg))
    if args.json:
        json.dump([asdict(r) for r in results], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_text(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
