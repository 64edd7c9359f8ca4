"""Scale benchmark: render, update and validate fleets up to 20 clusters x 1,000 tenants.

    python bench/bench_scale.py                          # ladder 2x10 ... 20x500 20x1000
    python bench/bench_scale.py --sizes 2x10,5x100       # a shorter ladder
    python bench/bench_scale.py --sizes 5x100 --no-update --no-write

For each size (clusters x tenants) it builds a tagged copy of this template in a temporary git
repository (v1.0.0), then measures, each step in a fresh process (wall seconds, peak RSS of the
process tree from wait4):

- render: `flux-fleet new DEST --template TPL --vcs-ref v1.0.0 --data-file answers.yml`;
- validate: `flux-fleet validate DEST --format json` (its summary gives files, documents and the
  time per phase);
- copier update: the template is bumped to v1.1.0 (one line changed in every per-tenant file and
  the README) and `copier update --defaults --vcs-ref v1.1.0` moves the committed fleet to it;
- validate with the build cache (`FLUX_FLEET_BUILD_CACHE=1`) on the updated fleet, twice: the
  first fills `.git/flux-fleet-cache/` (what a lifecycle command or a validate with the cache on
  leaves behind), the second finds every build unchanged;
- tenant add: `flux-fleet tenant add` (an answer-only change rendered where it changes, then
  validation of the whole fleet, rebuilding only the builds whose inputs changed);
- copier update, same data: what `tenant add` is measured against (issue 15): a plain
  `copier update --defaults --data-file` with the tenants answer `tenant add` wrote, on a copy
  of the fleet as it was before the add (no validation).

Every step runs with bytecode caching on (PYTHONDONTWRITEBYTECODE removed), as a pip-installed
flux-fleet and Copier run. Results replace the scale section of docs/performance.md (with the
machine) unless
--no-write. Not part of the test run; it needs git, copier and kustomize (or kubectl) on
PATH, and no network.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = "2x10,5x100,10x250,20x500,20x1000"
FLUX_FLEET = [sys.executable, "-m", "flux_fleet"]
TEMPLATE_PARTS = ("copier.yml", "template")
BUMP_FILES = ("rbac.yaml.jinja", "README.md.jinja")
MARK_START = "<!-- bench_scale.py: start -->"
MARK_END = "<!-- bench_scale.py: end -->"


@dataclass
class Step:
    seconds: float
    peak_mb: float
    ok: bool
    detail: str = ""


@dataclass
class Row:
    clusters: int
    tenants: int
    render: Step | None = None
    validate: Step | None = None
    validate_files: Step | None = None  # --no-build: the Python side alone
    update: Step | None = None
    tenant_add: Step | None = None
    same_data: Step | None = None  # plain copier update with the tenant add's answers
    cache_fill: Step | None = None  # validate with the build cache on, cache empty
    cache_warm: Step | None = None  # the same again: every build unchanged
    warm_summary: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    rendered_files: int = 0


def measured(cmd: list[str], cwd: Path | None = None,
             env: dict[str, str] | None = None) -> Step:
    """Run a command; wall time and peak RSS (wait4: the process and its reaped children)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        detail = (err.read() or out.read())[-2000:]
    return Step(seconds, usage.ru_maxrss / 1024, proc.returncode == 0, detail)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def template_repo(root: Path) -> Path:
    """A tagged (v1.0.0) git copy of this template, then a v1.1.0 bump of per-tenant files."""
    tpl = root / "template-repo"
    tpl.mkdir()
    for part in TEMPLATE_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, tpl / part)
        else:
            shutil.copy2(src, tpl / part)
    git(tpl, "init", "-q")
    git(tpl, "add", "-A")
    git(tpl, "commit", "-q", "-m", "template v1.0.0")
    git(tpl, "tag", "v1.0.0")
    bumped = 0
    for path in sorted((tpl / "template" / "platform").rglob("*")):
        if path.is_file() and path.name in BUMP_FILES:
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("\n", "\n# template v1.1.0\n", 1), encoding="utf-8")
            bumped += 1
    assert bumped, "nothing to bump in the template"
    git(tpl, "commit", "-q", "-am", "template v1.1.0")
    git(tpl, "tag", "v1.1.0")
    return tpl


def answers(clusters: int, tenants: int) -> dict[str, Any]:
    """Clusters c01.. alternating staging/production; tenants t001.. on every cluster."""
    envs = ("staging", "production")
    return {
        "fleet_name": "scale",
        "clusters": [{"name": f"c{i:02d}", "context": f"c{i:02d}", "env": envs[i % 2]}
                     for i in range(1, clusters + 1)],
        "tenants": [{"name": f"t{i:03d}", "repo_url": f"https://github.com/example-org/t{i:03d}"}
                    for i in range(1, tenants + 1)],
    }


def bench_size(clusters: int, tenants: int, work: Path, tpl: Path, *, update: bool,
               env: dict[str, str], tenant_add: bool = True) -> Row:
    row = Row(clusters, tenants)
    size = work / f"{clusters}x{tenants}"
    size.mkdir()
    data_file = size / "answers.yml"
    data_file.write_text(yaml.safe_dump(answers(clusters, tenants)), encoding="utf-8")
    fleet = size / "fleet"
    row.render = measured([*FLUX_FLEET, "new", str(fleet), "--template", str(tpl), "--no-git",
                           "--vcs-ref", "v1.0.0", "--defaults", "--data-file", str(data_file)],
                          env=env)
    print(f"{clusters}x{tenants}: render {row.render.seconds:.1f}s", flush=True)
    if not row.render.ok:
        return row
    row.rendered_files = sum(1 for p in fleet.rglob("*") if p.is_file() and ".git" not in p.parts)
    report = size / "report.json"
    row.validate = measured([*FLUX_FLEET, "validate", str(fleet), "--format", "json", "-o",
                             str(report)], env=env)
    if report.is_file():
        row.summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    print(f"{clusters}x{tenants}: validate {row.validate.seconds:.1f}s "
          f"({row.summary.get('documents')} documents)", flush=True)
    row.validate_files = measured([*FLUX_FLEET, "validate", str(fleet), "--no-build",
                                   "--format", "json", "-o", str(size / "files.json")], env=env)
    print(f"{clusters}x{tenants}: validate --no-build {row.validate_files.seconds:.1f}s",
          flush=True)
    if not update:
        return row
    git(fleet, "init", "-q")
    git(fleet, "add", "-A")
    git(fleet, "commit", "-q", "-m", "fleet")
    row.update = measured([sys.executable, "-m", "copier", "update", "--defaults", "--quiet",
                           "--vcs-ref", "v1.1.0", "--conflict", "inline", str(fleet)], env=env)
    print(f"{clusters}x{tenants}: copier update {row.update.seconds:.1f}s", flush=True)
    if row.update.ok and tenant_add:
        git(fleet, "add", "-A")
        git(fleet, "commit", "-q", "-m", "template v1.1.0")
        plain = size / "fleet-copier"
        shutil.copytree(fleet, plain, symlinks=True)
        cached_env = {**env, "FLUX_FLEET_BUILD_CACHE": "1"}
        row.cache_fill = measured([*FLUX_FLEET, "validate", str(fleet)], env=cached_env)
        warm = size / "warm.json"
        row.cache_warm = measured([*FLUX_FLEET, "validate", str(fleet), "--format", "json",
                                   "-o", str(warm)], env=cached_env)
        if warm.is_file():
            row.warm_summary = json.loads(warm.read_text(encoding="utf-8"))["summary"]
        print(f"{clusters}x{tenants}: validate with the build cache: filling "
              f"{row.cache_fill.seconds:.1f}s, warm {row.cache_warm.seconds:.1f}s", flush=True)
        row.tenant_add = measured(
            [*FLUX_FLEET, "tenant", "add", "newcomer", "--repo",
             "https://github.com/example-org/newcomer", "--dir", str(fleet)], env=env)
        print(f"{clusters}x{tenants}: tenant add {row.tenant_add.seconds:.1f}s", flush=True)
        if row.tenant_add.ok:
            written = yaml.safe_load((fleet / ".copier-answers.yml").read_text(encoding="utf-8"))
            same = size / "same-data.yml"
            same.write_text(yaml.safe_dump({"tenants": written["tenants"]}), encoding="utf-8")
            row.same_data = measured(
                [sys.executable, "-m", "copier", "update", "--defaults", "--quiet",
                 "--vcs-ref", "v1.1.0", "--conflict", "inline", "--data-file", str(same),
                 str(plain)], env=env)
            print(f"{clusters}x{tenants}: copier update, same data "
                  f"{row.same_data.seconds:.1f}s", flush=True)
    return row


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    kustomize = shutil.which("kustomize") or shutil.which("kubectl") or "none"
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, kustomize via {Path(kustomize).name}")


def _fmt(step: Step | None) -> str:
    if step is None:
        return "not run"
    if not step.ok:
        return "failed"
    return f"{step.seconds:.1f} ({step.peak_mb:.0f})"


def _exponent(a: float, b: float, x1: float, x2: float) -> str:
    """k in cost ~ size^k between two sizes: 1.0 is linear, below 1 is better than linear."""
    if min(a, b, x1, x2) <= 0 or x1 == x2:
        return ""
    return f"{math.log(b / a) / math.log(x2 / x1):.2f}"


def _objects(row: Row) -> int:
    """Objects a validate run checks: the files' and the built ones."""
    return int(row.summary.get("objects", 0)) + int(row.summary.get("built_objects", 0))


def _ok(step: Step | None) -> float:
    return step.seconds if step is not None and step.ok else 0.0


def _mb(step: Step | None) -> float:
    return step.peak_mb if step is not None and step.ok else 0.0


def report(rows: list[Row], skipped: list[str]) -> str:
    lines = [
        MARK_START,
        "## At scale (issues 5 and 15)",
        "",
        "Written by `python bench/bench_scale.py` (see its docstring). Fleets of clusters x "
        "tenants, every tenant on every cluster, rendered from a tagged copy of this template; "
        "each step runs in a fresh process, imports and start-up included. Seconds, with the "
        "peak resident memory of the step's process tree in MB in brackets (wait4). "
        "*validate --no-build* is the Python side alone (load, schema, rules over the files).",
        "",
        f"Machine: {machine()}. Load average at the end of the run: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
        "",
        "| clusters x tenants | files | documents | objects (files + built) | render | validate "
        "| docs/s | validate --no-build | copier update (v1.0.0 -> v1.1.0) | tenant add "
        "| copier update, same data as tenant add |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        docs = r.summary.get("documents", 0)
        objs = r.summary.get("objects", 0) + r.summary.get("built_objects", 0)
        vs = _ok(r.validate)
        rate = f"{docs / vs:,.0f}" if vs else ""
        lines.append(
            f"| {r.clusters} x {r.tenants} | {r.rendered_files} | {docs:,} | {objs:,} | "
            f"{_fmt(r.render)} | {_fmt(r.validate)} | {rate} | {_fmt(r.validate_files)} | "
            f"{_fmt(r.update)} | {_fmt(r.tenant_add)} | {_fmt(r.same_data)} |")
    lines += ["", *goals(rows), "", *goals_15(rows)]
    lines += ["", "The build cache (`flux_fleet.validate.build_cache`), on the fleet after the "
              "update: a validate that fills it, one that finds every build unchanged, and "
              "`tenant add` after them (its validation rebuilds only what the new tenant "
              "changes). Seconds (peak MB).", "",
              "| clusters x tenants | validate, cache off | validate, filling the cache | "
              "validate, nothing changed | builds from the cache / kustomize processes | "
              "tenant add |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r.cache_fill is None:
            continue
        w = r.warm_summary
        lines.append(f"| {r.clusters} x {r.tenants} | {_fmt(r.validate)} | {_fmt(r.cache_fill)} "
                     f"| {_fmt(r.cache_warm)} | {w.get('kustomize_cached', '')} / "
                     f"{w.get('kustomize_processes', '')} | {_fmt(r.tenant_add)} |")
    lines += ["", "Validate phases (seconds, from the validator's own summary; *build* is the "
              "wait for kustomize):", "",
              "| clusters x tenants | load | classify | schema | build | rules | wall | "
              "kustomize builds / processes |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ph = r.summary.get("phases", {})
        if ph:
            lines.append(
                f"| {r.clusters} x {r.tenants} | " + " | ".join(
                    f"{ph.get(p, 0):.2f}" for p in ("load", "classify", "schema", "build",
                                                    "rules"))
                + f" | {r.summary.get('wall', 0):.2f} | {r.summary.get('kustomize_builds', '')}"
                f" / {r.summary.get('kustomize_processes', '')} |")
    lines += ["", "Growth between successive sizes: the exponent k in cost ~ size^k (1.00 is "
              "linear; fixed start-up costs push it below 1 at small sizes). Size is what each "
              "step works on: files' documents for render and update, objects validated (file "
              "objects and built objects: every cluster applies its own copy of each tenant) "
              "for validate.", "",
              "| from -> to | documents x | objects x | render | copier update | validate | "
              "validate --no-build | validate memory |", "|---|---|---|---|---|---|---|---|"]
    for a, b in itertools.pairwise(rows):
        da, db = a.summary.get("documents", 0), b.summary.get("documents", 0)
        oa, ob = _objects(a), _objects(b)
        if not (da and db and oa and ob):
            continue
        cells = [_exponent(_ok(a.render), _ok(b.render), da, db),
                 _exponent(_ok(a.update), _ok(b.update), da, db),
                 _exponent(_ok(a.validate), _ok(b.validate), oa, ob),
                 _exponent(_ok(a.validate_files), _ok(b.validate_files), da, db),
                 _exponent(_mb(a.validate), _mb(b.validate), oa, ob)]
        lines.append(f"| {a.clusters} x {a.tenants} -> {b.clusters} x {b.tenants} | "
                     f"{db / da:.1f} | {ob / oa:.1f} | " + " | ".join(cells) + " |")
    if skipped:
        lines += ["", "Not run: " + "; ".join(skipped) + "."]
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


def goals(rows: list[Row]) -> list[str]:
    """Issue 5's goals against this run."""
    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else "**met**" if ok else "**not met**"

    at = {(r.clusters, r.tenants): r for r in rows}
    mid = at.get((5, 100))
    v = _ok(mid.validate) if mid else 0.0
    u = _ok(mid.update) if mid else 0.0
    ks = [math.log(_ok(b.validate) / _ok(a.validate)) / math.log(_objects(b) / _objects(a))
          for a, b in itertools.pairwise(rows)
          if _ok(a.validate) and _ok(b.validate) and _objects(b) > _objects(a) > 0]
    return [
        "| goal (issue 5) | measured | |", "|---|---|---|",
        f"| a 5 x 100 fleet validates in under 10 s | {v:.1f} s | "
        f"{verdict(v < 10 if v else None)} |",
        f"| `copier update` of a 5 x 100 fleet in under 60 s | {u:.1f} s | "
        f"{verdict(u < 60 if u else None)} |",
        "| validate grows linearly in what it checks | exponent in objects validated between "
        "successive sizes: "
        + (", ".join(f"{k:.2f}" for k in ks) or "n/a")
        + f" | {verdict(max(ks) <= 1.1 if ks else None)} |",
    ]


def goals_15(rows: list[Row]) -> list[str]:
    """Issue 15's goals against this run."""
    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else "**met**" if ok else "**not met**"

    at = {(r.clusters, r.tenants): r for r in rows}
    big = at.get((20, 500))
    add = _ok(big.tenant_add) if big else 0.0
    val = _ok(big.validate) if big else 0.0
    ratios = [(r, _ok(r.tenant_add) / _ok(r.same_data)) for r in rows
              if _ok(r.tenant_add) and _ok(r.same_data)]
    wide = sorted((r for r in rows if r.clusters == 20 and _ok(r.validate)),
                  key=lambda r: r.tenants)
    ks = [math.log(_ok(b.validate) / _ok(a.validate)) / math.log(b.tenants / a.tenants)
          for a, b in itertools.pairwise(wide) if b.tenants > a.tenants]
    return [
        "| goal (issue 15) | measured | |", "|---|---|---|",
        f"| `tenant add` on 20 x 500 in under 15 s (validation included) | {add:.1f} s | "
        f"{verdict(add < 15 if add else None)} |",
        "| `tenant add` under 0.5x a plain `copier update` with the same data, at every size "
        "| " + (", ".join(f"{r.clusters} x {r.tenants}: {q:.2f}" for r, q in ratios) or "n/a")
        + f" | {verdict(all(q < 0.5 for _, q in ratios) if ratios else None)} |",
        f"| full `validate` on 20 x 500 in under 8 s | {val:.1f} s | "
        f"{verdict(val < 8 if val else None)} |",
        "| validate's cost exponent in tenants at most 1.05 (20 clusters, successive sizes) | "
        + (", ".join(f"{k:.2f}" for k in ks) or "n/a")
        + f" | {verdict(max(ks) <= 1.05 if ks else None)} |",
    ]


def write_section(path: Path, section: str) -> None:
    """Replace the scale section of docs/performance.md (or append it), keeping the rest."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        tail = rest.split(MARK_END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help="comma-separated CLUSTERSxTENANTS (default: %(default)s)")
    parser.add_argument("--no-update", action="store_true",
                        help="skip copier update and tenant add")
    parser.add_argument("--no-tenant-add", action="store_true",
                        help="skip `flux-fleet tenant add` (it validates the fleet again)")
    parser.add_argument("--update-max-tenants", type=int, default=10**9,
                        help="skip the update steps above this many tenants")
    parser.add_argument("--out", default=str(REPO / "docs" / "performance.md"),
                        help="the file whose scale section is rewritten (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    args = parser.parse_args(argv)
    sizes = [tuple(int(n) for n in s.lower().split("x")) for s in args.sizes.split(",") if s]
    rows: list[Row] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="flux-fleet-scale-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        gitconfig = home / ".gitconfig"
        gitconfig.write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n"
                             "[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
        env = {**os.environ, "HOME": str(home), "GIT_CONFIG_GLOBAL": str(gitconfig),
               "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1"}
        # as installed: pip writes the .pyc files of a wheel it installs; a sandbox that sets
        # PYTHONDONTWRITEBYTECODE would make every step compile flux-fleet's modules again
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], env=env,
                       check=True, capture_output=True)  # what pip does when it installs
        os.environ.update({k: env[k] for k in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")})
        tpl = template_repo(work)
        for clusters, tenants in sizes:
            update = not args.no_update and tenants <= args.update_max_tenants
            if not update:
                skipped.append(f"copier update / tenant add at {clusters} x {tenants}")
            if args.no_tenant_add:
                skipped.append(f"tenant add at {clusters} x {tenants}")
            rows.append(bench_size(clusters, tenants, work, tpl, update=update, env=env,
                                   tenant_add=not args.no_tenant_add))
    text = report(rows, skipped)
    print(text)
    if not args.no_write:
        write_section(Path(args.out), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
