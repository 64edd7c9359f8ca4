"""The validation pipeline: every phase once, in one direction, collecting every problem.

    discover + load -> classify -> schema (file objects), while the kustomize builds run ->
    schema (built objects) -> references -> tenancy -> drift -> [kubeconform] -> filters -> report

Each file is read and parsed once (the loader), each schema compiled once (one SchemaStore
per run), builds run in parallel (build_all) and alongside the file objects' schema checks;
"build" in the phase timings is the time spent waiting for builds after those checks.
Phases return findings and skips; none raises for problems in the user's files, so one run
shows everything. Copier is never imported here.
"""

from __future__ import annotations

import gc
import posixpath
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flux_fleet import forked, progress
from flux_fleet.errors import FleetError, UserError
from flux_fleet.flux import TenancySettings
from flux_fleet.model import Document, Finding, Inventory, KObject, Severity, Skipped
from flux_fleet.resources import schemas_dir
from flux_fleet.validate import (
    flux_version,
    kustomize,
    loader,
    plain_build,
    reconcile,
    repo_crds,
    sourceignore,
    staging,
    suppress,
)
from flux_fleet.validate.checks import build, drift, references, schema, tenancy
from flux_fleet.validate.config import Config
from flux_fleet.validate.rules import Rule, all_rules
from flux_fleet.validate.schema_store import SchemaStore

ANSWERS_FILE = ".copier-answers.yml"
PHASES = ("load", "classify", "schema", "build", "rules", "kubeconform", "filter")


@dataclass
class Stats:
    """What a run looked at and how long each phase took (seconds)."""

    files: int = 0
    bytes: int = 0
    documents: int = 0
    objects: int = 0  # objects read from files
    built_objects: int = 0  # objects in kustomize output
    built: int = 0  # Flux Kustomizations built
    builds: int = 0  # distinct kustomize builds
    processes: int = 0  # kustomize processes they took (small builds share one)
    cached: int = 0  # builds whose kustomize output came from the build cache
    skipped: int = 0
    suppressed: int = 0
    filtered: int = 0  # dropped by --select/--ignore
    by_severity: Counter[Severity] = field(default_factory=Counter)
    phases: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files, "bytes": self.bytes, "documents": self.documents,
            "objects": self.objects, "built_objects": self.built_objects,
            "kustomizations_built": self.built, "kustomize_builds": self.builds,
            "kustomize_processes": self.processes, "kustomize_cached": self.cached,
            "skipped": self.skipped, "suppressed": self.suppressed, "filtered": self.filtered,
            "errors": self.by_severity.get(Severity.ERROR, 0),
            "warnings": self.by_severity.get(Severity.WARNING, 0),
            "info": self.by_severity.get(Severity.INFO, 0),
            "phases": {k: round(v, 4) for k, v in self.phases.items()},
            "wall": round(self.wall, 4),
        }


@dataclass
class ValidationResult:
    root: str
    config: Config
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "kubeconform: not on PATH, skipped"
    stats: Stats = field(default_factory=Stats)
    started: str = ""

    @property
    def failed(self) -> bool:
        """Errors fail the run; warnings too under --strict; info never does."""
        fail = {Severity.ERROR, Severity.WARNING} if self.config.strict else {Severity.ERROR}
        return any(f.severity in fail for f in self.findings)


def available_rules() -> dict[str, Rule]:
    """The whole registry, by code (every owning module, kubeconform's FF7xx included)."""
    return all_rules()


def _split(results: Iterable[Finding | Skipped], findings: list[Finding],
           skipped: list[Skipped]) -> None:
    for r in results:
        (findings if isinstance(r, Finding) else skipped).append(r)


class _Clock:
    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.t = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.stats.phases[phase] = self.stats.phases.get(phase, 0.0) + now - self.t
        self.t = now


def _answers(documents: list[Document]) -> dict[str, Any] | None:
    for doc in documents:
        if doc.file == ANSWERS_FILE and isinstance(doc.data, dict):
            return doc.data
    return None


def _fresh_built(built: dict[Any, list[KObject]], objects: list[KObject]) -> Iterator[KObject]:
    """Built objects that differ from the file object they came from (patched, namespaced,
    substituted...): identical ones were already schema-checked at their file, so checking
    them again would only repeat the same finding at the Kustomization."""
    by_origin = {(o.document.file, o.id.kind, o.id.name): o.data for o in objects}
    for objs in built.values():
        for obj in objs:
            same = by_origin.get((obj.source_file, obj.id.kind, obj.id.name))
            if same is None or same != obj.data:
                yield obj


def helm_chart_files(listing: list[str]) -> dict[str, str]:
    """Files of Helm chart folders (a folder holding ``Chart.yaml``) -> the chart folder."""
    charts = sorted({posixpath.dirname(f) for f in listing
                     if posixpath.basename(f) == "Chart.yaml"}, key=len)
    if not charts:
        return {}
    out: dict[str, str] = {}
    for file in listing:
        for chart in charts:
            if chart == "" or file.startswith(chart + "/"):
                out[file] = chart or "."
                break
    return out


def _as_applied(raw: list[Finding], objects: list[KObject],
                built: build.BuildResult) -> tuple[list[Finding], list[Skipped]]:
    """The file objects' findings that stand for what the clusters apply.

    An object is checked in the form the API server receives. Where a cluster applies it
    unchanged, its finding at the file is that check; where every cluster changes it
    (namespace, patches, substitution) the built forms are checked instead; a file no
    cluster applies is not applied at all: skipped, with the reason, not judged.
    """
    data_of = {(o.document.file, o.id.kind, o.id.name): o.data for o in objects}
    unchanged: set[tuple[str, str]] = set()
    for objs in built.built.values():
        for obj in objs:
            if data_of.get((obj.source_file, obj.id.kind, obj.id.name)) == obj.data:
                unchanged.add((obj.source_file, str(obj.id)))
    failed = built.unbuilt - built.reached  # only a failed build would read them: as written
    kept = [f for f in raw if (f.file, f.object) in unchanged or f.file in failed]
    skips: dict[str, Skipped] = {}
    for obj in objects:
        file = obj.document.file
        if file not in built.reached and file not in failed and file not in skips:
            skips[file] = Skipped(file, obj.document.line, "not-applied",
                                  "not applied by any Flux Kustomization of this repository's "
                                  "clusters: not checked", str(obj.id))
    return kept, list(skips.values())


def _build_cache(root: Path, asked: bool) -> Any:
    """The run's ``build_cache.BuildCache``, or None; imported only when the environment
    (FLUX_FLEET_BUILD_CACHE) or the caller asks for it: hashing and HMAC cost ~5 ms of
    imports that a run without the cache does not need."""
    import os

    env = os.environ.get("FLUX_FLEET_BUILD_CACHE")
    if not asked and not env:
        return None
    from flux_fleet.validate import build_cache

    wanted = build_cache.setting()
    if not (asked if wanted is None else wanted):
        return None
    return build_cache.BuildCache.open(root, kustomize.command())


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A run builds hundreds of thousands of small, acyclic dicts and lists; the cyclic
    garbage collector's full passes walk all of them again and again, which made the rules
    phase grow faster than the fleet (a third of it at 20 clusters x 500 tenants). Reference
    counting still frees everything; the collector is back on when the run ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: below this many objects (files and built), a fork costs more than the references take
_FORK_FROM = 2_000


def _refused(found: Iterable[Finding]) -> frozenset[str]:
    """Files the loader would not hand on (too large, alias bombs, too deep, unreadable)."""
    return frozenset(f.file for f in found if f.rule in ("FF103", "FF105", "FF106", "FF107"))


def validate(root: Path, config: Config | None = None,
             platform: Mapping[str, Any] | None = None, *,
             cache: bool = False) -> ValidationResult:
    """Run every check over the repository at ``root``; never raises for problems in files.

    ``platform``: the fleet's answers when the platform validates a tenant repo (--tenant
    --platform-answers): tenancy settings come from them, not from the tenant's own files.
    ``cache``: reuse unchanged builds' kustomize outputs (``build_cache``; lifecycle commands
    set it; FLUX_FLEET_BUILD_CACHE=0/1 overrides it either way). Findings are the same.
    """
    with _collector_paused():
        return _validate(root, config, platform, cache)


def _validate(root: Path, config: Config | None,
              platform: Mapping[str, Any] | None = None,
              cache: bool = False) -> ValidationResult:
    config = config or Config()
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such directory", hint="pass the root of a Flux repository")
    result = ValidationResult(root=str(root.resolve()), config=config,
                              started=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    stats = result.stats
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    start = time.perf_counter()
    clock = _Clock(stats)

    # load: every file read and parsed once
    if config.exclude:
        keep, _ = loader._discover(root)
        if keep and all(config.excluded(f) for f in keep):
            raise UserError(f"{config.source or 'exclude'}: the exclude patterns leave none of "
                            f"the {len(keep)} YAML files to validate; a run that checks nothing "
                            "is not clean", hint="narrow the exclude patterns")
    # excluded files are still read: the clusters apply them all the same, so builds and
    # references must see them; only findings located in them are dropped (filters below)
    progress.phase(f"validate: reading {root}")
    loaded = loader.load_tree(root)
    listing = loaded.discovered or []
    findings.extend(loaded.findings)
    documents = loaded.documents
    stats.files, stats.bytes, stats.documents = loaded.files, loaded.bytes, len(documents)
    answers = _answers(documents)
    clock.lap("load")

    # classify: kustomize configs and patch files are not objects; SOPS data is skipped
    cls = build.classify(documents)
    skipped.extend(cls.skips)
    objects = build.file_objects(documents, cls)
    stats.objects = len(objects)
    roots = reconcile.find_roots(objects, documents, listing, declared=config.sync)
    # what the clusters' sources hold: files a .sourceignore, spec.ignore or the artifact's
    # folder leaves out are in no cluster (not built, not checked, not referenced)
    arts = sourceignore.artifacts(root, ((r.folder, r.spec_ignore) for r in roots))
    omitted = {f: why for f in listing if (why := sourceignore.why_omitted(f, arts))}
    omit = staging.answered(listing, omitted, lambda f: bool(sourceignore.why_omitted(f, arts)))
    if omitted:
        listing = [f for f in listing if f not in omitted]
        skipped.extend(Skipped(f, 1, "artifact", f"not in the source's artifact: {why}")
                       for f, why in sorted(omitted.items()))
        objects = [o for o in objects if o.document.file not in omitted]
    # a Helm chart's files are helm's input (templates, values, CRDs it installs), not
    # manifests Flux applies as they are; a build that takes them in is still built as is
    charts = helm_chart_files(listing)
    if charts:
        skipped.extend(Skipped(f, 1, "helm-chart", f"part of the Helm chart {d}/ (rendered "
                               "by helm, not applied as a file): not checked")
                       for f, d in sorted(charts.items()))
        objects = [o for o in objects if o.document.file not in charts]
        omitted.update({f: "" for f in charts if f not in omitted})
    clock.lap("classify")
    progress.phase(f"validate: {progress.plural(stats.files, 'file')}, "
                   f"{progress.plural(stats.documents, 'document')}, "
                   f"{progress.plural(len(roots), 'cluster sync root')}; checking schemas"
                   + (", building what the clusters apply" if config.build else ""))

    # builds, in parallel, each distinct (path, options) once; they run in kustomize
    # processes while this thread checks the file objects' schemas
    store = SchemaStore(schemas_dir())  # one store: each schema compiled once
    store.flux_version = flux_version.declared(root, listing, objects, answers)
    repo_crds.register(objects, store)  # the repository's own CRDs: their kinds are checked
    if schema.installed_by_operator(documents):
        store.enum_extensions = {"Alert": schema.OPERATOR_KINDS, "Receiver": schema.OPERATOR_KINDS}
    raw: list[Finding] = []  # the file objects' own findings; kept where nothing changes them
    # the build cache: unchanged builds, the controllers' build (tenancy) and the objects
    # that passed the schema checks in an earlier run with the same schemas (passed.py)
    kept_builds = _build_cache(root, cache) if config.build else None
    passed = None
    if kept_builds is not None:
        from flux_fleet.validate.passed import Passed

        passed = Passed.load(kept_builds, store, config.strict)
    if config.build:
        if kustomize.command() is None:
            raise FleetError("kustomize not found: a full validate builds what Flux builds and "
                             "never reports a fleet it did not build as clean",
                             hint="install kustomize or kubectl, or pass --no-build to check "
                                  "the files only")
        from concurrent.futures import ThreadPoolExecutor  # only builds need a thread

        with ThreadPoolExecutor(max_workers=1) as background:
            building = background.submit(build.build_all, root, documents, objects,
                                         jobs=config.build_jobs, classification=cls,
                                         listing=listing, roots=roots,
                                         refused=_refused(loaded.findings),
                                         omit=omit,
                                         cache=kept_builds,
                                         parsed=plain_build.by_file(
                                             documents, loaded.paths,
                                             (f.file for f in loaded.findings)))
            _split(schema.check_objects(objects, store, strict=config.strict), raw, skipped)
            clock.lap("schema")
            built = building.result()
        if kept_builds is not None:
            kept_builds.prune()
    else:
        _split(schema.check_objects(objects, store, strict=config.strict), raw, skipped)
        clock.lap("schema")
        built = build.BuildResult()
        result.notes.append("kustomize builds skipped (--no-build): built objects were not "
                            "checked and nothing was checked as applied")
    findings.extend(built.findings)
    skipped.extend(built.skips)
    stats.built, stats.builds, stats.processes = len(built.built), built.count, built.processes
    stats.cached = len(built.cached)
    stats.built_objects = sum(len(v) for v in built.built.values())
    clock.lap("build")
    if config.build:
        progress.phase(f"validate: {progress.plural(stats.built, 'Kustomization')} built "
                       f"({progress.plural(stats.processes, 'kustomize run')}); "
                       "checking references and tenancy")

    if config.build and roots:
        kept, unapplied = _as_applied(raw, objects, built)
        findings.extend(kept)
        skipped.extend(unapplied)
    else:
        findings.extend(raw)
    findings = [f for f in findings if f.file not in omitted]
    fresh = build.relocate(list(_fresh_built(built.built, objects)), objects)
    _split(schema.check_objects(fresh, store, strict=config.strict), findings, skipped)
    if passed is not None:
        passed.save(store)
    clock.lap("schema")

    # graph rules: references, tenancy, drift
    tenant_repo = config.tenant or bool(answers and answers.get("repo_kind") == "tenant")
    overrides: dict[str, Any] = {}
    if config.tenant:
        overrides["tenant_repo"] = True
    if config.allowed_source_prefixes:
        overrides["allowed_source_prefixes"] = tuple(config.allowed_source_prefixes)
    settings = (tenancy.platform_settings(platform, answers) if platform is not None
                else TenancySettings.from_answers(answers, **overrides))
    inv = Inventory(root=str(root.resolve()), documents=documents, objects=objects,
                    built=built.built, patch_files=cls.patch_files,
                    kustomize_dirs=cls.kustomize_dirs, tenant_repo=tenant_repo, answers=answers,
                    roots=tuple(r.cluster for r in roots), builds=config.build)
    view = references.FleetView.of(inv)  # one graph for both rule families
    # two cores: the references in a forked child (it inherits the graph), tenancy and drift
    # here; the same results in the same order as in series (flux_fleet.forked)
    child = forked.start(lambda: list(references.check(inv, settings, view=view))) if (
        config.build_jobs > 1 and stats.objects + stats.built_objects > _FORK_FROM) else None
    try:
        rest = [*tenancy.check(inv, settings, view=view, cache=kept_builds), *drift.check(inv)]
        refs = child.result() if child is not None else None
    except forked.ChildFailed:
        refs = None
    except BaseException:
        if child is not None:
            child.kill()
        raise
    if refs is None:
        refs = list(references.check(inv, settings, view=view))
    _split(refs, findings, skipped)
    _split(rest, findings, skipped)
    clock.lap("rules")
    progress.phase(f"validate: rules checked, {progress.plural(len(findings), 'finding')} "
                   "before filters")

    if config.kubeconform:
        from flux_fleet.validate import kubeconform

        kc = kubeconform.run(built.built, schemas_dir(), jobs=config.jobs)
        findings.extend(kc.findings)
        skipped.extend(kc.skipped)
        result.notes.extend(kc.notes)
        clock.lap("kubeconform")

    # filters: --select/--ignore, excluded files, then inline suppression comments
    # under --tenant the repository's own exclude patterns and comments cannot hide tenancy
    pinned = (lambda f: f.rule.startswith("FF5")) if config.tenant else (lambda f: False)
    kept = [f for f in findings
            if config.enabled(f.rule) and (pinned(f) or not config.excluded(f.file))]
    stats.filtered = len(findings) - len(kept)
    kept, result.suppressed = suppress.apply(kept, root)
    kept += [f for f in result.suppressed if pinned(f)]
    result.suppressed = [f for f in result.suppressed if not pinned(f)]
    result.findings = sorted(set(kept))
    result.skipped = sorted(set(skipped))
    stats.suppressed = len(result.suppressed)
    stats.skipped = len(result.skipped)
    stats.by_severity = Counter(f.severity for f in result.findings)
    clock.lap("filter")
    staging.settle()  # the build's scratch tree, removed while the rules ran
    stats.wall = time.perf_counter() - start
    return result
