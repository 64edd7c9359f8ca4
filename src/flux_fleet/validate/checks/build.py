"""Build every Flux Kustomization of this repository as kustomize-controller builds it.

What the cluster receives is kustomize's output, not the files: a folder without a
kustomization.yaml gets one generated over its manifests, and the Flux Kustomization's
``targetNamespace``, ``namePrefix``/``nameSuffix``, ``patches``, ``images`` and ``components``
are applied, then ``commonMetadata`` and ``postBuild`` substitution. This module classifies the
loaded documents (kustomize configs, patch files, SOPS documents), runs the builds with real
kustomize in parallel and returns the built objects for the schema, graph and tenancy checks.

The Flux options are applied in a wrapper kustomization written to a temporary directory that
points at the repository with load restrictions off, so the user's tree is never written to.
Each built object is traced back to the file it came from by matching it against the file
objects the build can reach (kustomize's own origin annotations would tell, but they make
kustomize quadratic in patches: 60 s instead of 0.6 s for one 100-tenant overlay).
Where ``spec.path`` has its own kustomization.yaml the options sit one layer above it (the
controller edits that file in place); the results only differ when a Flux patch targets a name
that the folder's own kustomization.yaml already prefixed.
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_fleet.model import BuildKey, Document, Finding, KObject, ObjectId, Severity, Skipped
from flux_fleet.validate import (
    kustomize,
    kustomize_batch,
    plain_build,
    reconcile,
    redact,
    staging,
    varsub,
)
from flux_fleet.validate.artifact_generator import FolderCopy, external_artifacts, source_path
from flux_fleet.validate.loader import discover, load_text
from flux_fleet.validate.reconcile import SyncRoot, find_roots
from flux_fleet.validate.rules import Rule

if TYPE_CHECKING:
    from flux_fleet.validate import build_cache

RULES: tuple[Rule, ...] = (
    Rule(
        code="FF301",
        name="kustomize-build-failed",
        severity=Severity.ERROR,
        summary="kustomize cannot build the path this Flux Kustomization points to",
        why="kustomize-controller runs the same build before applying anything; when it fails "
        "the Kustomization stays not-ready and none of its objects are applied or updated.",
        fix="Run `kustomize build --load-restrictor LoadRestrictionsNone <path>` and fix the "
        "error it reports (a missing file, a patch whose target does not exist, ...)",
        bad="# clusters/staging/apps.yaml\nspec:\n  path: ./apps/staging\n"
        "# apps/staging/kustomization.yaml\nresources:\n  - deployment.yaml   # no such file\n",
        good="# apps/staging/kustomization.yaml\nresources:\n  - ../base\n",
    ),
    Rule(
        code="FF302",
        name="kustomization-path-not-found",
        severity=Severity.ERROR,
        summary="spec.path of a Flux Kustomization does not exist in this repository",
        why="The controller fails with 'kustomization path not found' and applies nothing; "
        "usually a folder was renamed or the path has a typo.",
        fix="Point spec.path at an existing directory, relative to the repository root",
        bad="spec:\n  path: ./clusters/stagng\n  sourceRef:\n    kind: GitRepository\n"
        "    name: flux-system\n",
        good="spec:\n  path: ./clusters/staging\n  sourceRef:\n    kind: GitRepository\n"
        "    name: flux-system\n",
    ),
    Rule(
        code="FF303",
        name="undefined-substitution-variable",
        severity=Severity.WARNING,
        summary="The built manifests use a ${VAR} that postBuild does not define",
        why="With postBuild set and no substituteFrom, kustomize-controller replaces an "
        "undefined ${VAR} with an empty string, which silently blanks a field.",
        fix="Add the variable to spec.postBuild.substitute, give it a default (${VAR:=value}), "
        "or escape it as $${VAR} when it must stay literal",
        bad="spec:\n  postBuild:\n    substitute:\n      cluster: staging\n"
        "# and a manifest says: region: ${region}\n",
        good="spec:\n  postBuild:\n    substitute:\n      cluster: staging\n      region: eu-1\n",
    ),
)

_R = {rule.code: rule for rule in RULES}

KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_GROUP = "kustomize.config.k8s.io"
FLUX_KS_GROUP = "kustomize.toolkit.fluxcd.io"
SOURCE_GROUP = "source.toolkit.fluxcd.io"
SUBSTITUTE_MARK = varsub.DISABLE_KEY
Known = varsub.Known
known_values = varsub.known_values
substitute = varsub.substitute
# Not in the artifact source-controller hands to kustomize-controller (its default ignores).
_ARTIFACT_EXCLUDED_DIRS = (".git", ".github", ".circleci")
_ARTIFACT_EXCLUDED_FILES = (".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
                            "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
                            ".goreleaser.yml", ".sops.yaml", ".flux.yaml")
_REMOTE_HOSTS = ("github.com/", "gitlab.com/", "bitbucket.org/", "dev.azure.com/")


# --- classification -----------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    """What each loaded file is to kustomize, so partial documents are never judged as objects."""

    kustomizations: dict[str, Document]  # dir ("." for the root) -> its kustomization document
    kustomization_files: frozenset[str]
    patch_files: frozenset[str]  # used only as patches: partial by design
    config_files: frozenset[str]  # generator inputs, replacements, transformer configs
    sops: frozenset[tuple[str, int]]  # (file, document index) of SOPS-encrypted documents
    referenced_dirs: frozenset[str]  # dirs another kustomization uses as resource or component
    skips: tuple[Skipped, ...] = ()

    @property
    def kustomize_dirs(self) -> frozenset[str]:
        return frozenset(self.kustomizations)

    @property
    def not_objects(self) -> frozenset[str]:
        """Files whose documents are not objects to apply."""
        return self.kustomization_files | self.patch_files | self.config_files

    def root_dirs(self) -> list[str]:
        """Kustomization dirs no other kustomization uses (the entry points), components aside."""
        return sorted(
            d for d, doc in self.kustomizations.items()
            if d not in self.referenced_dirs
            and not (isinstance(doc.data, dict) and doc.data.get("kind") == "Component"))


def _dir_of(file: str) -> str:
    return posixpath.dirname(file) or "."


def _join(base: str, ref: str) -> str | None:
    """Repository-relative normalized path, or None when it leaves the repository."""
    joined = posixpath.normpath(posixpath.join(base, ref.strip()))
    if joined == ".." or joined.startswith("../") or posixpath.isabs(joined):
        return None
    return joined


def is_remote(ref: str) -> bool:
    """A kustomize resource that names a URL or git repository rather than a local path."""
    ref = ref.strip()
    return ("://" in ref or ref.startswith("git@") or "?ref=" in ref or "?version=" in ref
            or ref.startswith(_REMOTE_HOSTS))


def is_kustomize_config(doc: Document) -> bool:
    if posixpath.basename(doc.file) in KUSTOMIZE_FILES:
        return True
    data = doc.data
    return (isinstance(data, dict) and str(data.get("apiVersion", "")).startswith(
        KUSTOMIZE_GROUP + "/") and data.get("kind") in ("Kustomization", "Component"))


def is_sops(doc: Document) -> bool:
    return isinstance(doc.data, dict) and isinstance(doc.data.get("sops"), dict)


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _paths_in(value: Any, key: str = "path") -> list[str]:
    if not isinstance(value, list):
        return []
    return [v[key] for v in value if isinstance(v, dict) and isinstance(v.get(key), str)]


def _file_refs(kus: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(resources and components, patch files, other config files) named by a kustomization."""
    resources = _strings(kus.get("resources")) + _strings(kus.get("bases")) + _strings(
        kus.get("components"))
    patches = _paths_in(kus.get("patches")) + _paths_in(kus.get("patchesJson6902"))
    patches += [p for p in _strings(kus.get("patchesStrategicMerge")) if "\n" not in p]
    config: list[str] = []
    for gen in (kus.get("configMapGenerator") or []) + (kus.get("secretGenerator") or []):
        if isinstance(gen, dict):
            config += [f.split("=", 1)[-1] for f in _strings(gen.get("files"))]
            config += _strings(gen.get("envs"))
            if isinstance(gen.get("env"), str):
                config.append(gen["env"])
    config += _paths_in(kus.get("replacements"))
    for key in ("transformers", "generators", "validators", "configurations", "crds"):
        config += [p for p in _strings(kus.get(key)) if "\n" not in p]
    openapi = kus.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        config.append(openapi["path"])
    config += _paths_in(kus.get("helmCharts"), "valuesFile")
    return resources, patches, config


def classify(documents: Iterable[Document]) -> Classification:
    """Sort the loaded documents into kustomize configs, patches, SOPS documents and the rest."""
    kustomizations: dict[str, Document] = {}
    kfiles: set[str] = set()
    sops: set[tuple[str, int]] = set()
    skips: list[Skipped] = []
    for doc in documents:
        if is_kustomize_config(doc):
            kfiles.add(doc.file)
            if isinstance(doc.data, dict):
                kustomizations.setdefault(_dir_of(doc.file), doc)
        elif is_sops(doc):
            sops.add((doc.file, doc.index))
            obj = str(ObjectId.of(doc.data)) if doc.is_object else ""
            skips.append(Skipped(doc.file, doc.line, "sops", "sops: encrypted, values not checked",
                                 obj))
    resources: set[str] = set()
    patches: set[str] = set()
    config: set[str] = set()
    for base, doc in kustomizations.items():
        res, pat, cfg = _file_refs(doc.data)
        for refs, into in ((res, resources), (pat, patches), (cfg, config)):
            for ref in refs:
                if not is_remote(ref):
                    target = _join(base, ref)
                    if target is not None:
                        into.add(target)
    return Classification(
        kustomizations=kustomizations,
        kustomization_files=frozenset(kfiles),
        patch_files=frozenset(patches - resources),
        config_files=frozenset(config - resources - patches),
        sops=frozenset(sops),
        referenced_dirs=frozenset(r for r in resources if r in kustomizations),
        skips=tuple(skips),
    )


def file_objects(documents: Iterable[Document], classification: Classification) -> list[KObject]:
    """Objects read straight from files: not patches, not kustomize configs, not SOPS data."""
    skip_files = classification.not_objects
    out: list[KObject] = []
    for doc in documents:
        if (doc.file in skip_files or not doc.is_object or (doc.file, doc.index)
                in classification.sops):
            continue
        data = doc.data
        out.append(KObject(ObjectId.of(data), str(data.get("apiVersion")), data, doc))
    return out


# --- builds -------------------------------------------------------------------------------


@dataclass
class BuildResult:
    """``built`` maps each build (a Flux Kustomization and its defining file: every cluster's
    ``flux-system`` is its own entry) to the objects it would apply."""

    built: dict[BuildKey, list[KObject]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    skips: list[Skipped] = field(default_factory=list)
    count: int = 0  # distinct kustomize builds run
    processes: int = 0  # kustomize processes they took (small builds share one)
    roots: list[SyncRoot] = field(default_factory=list)  # the clusters' entries, when any
    reached: set[str] = field(default_factory=set)  # files some successful build reads
    unbuilt: set[str] = field(default_factory=set)  # files only failed builds would read
    cached: set[tuple[str, str]] = field(default_factory=set)  # outputs from build_cache


@dataclass(frozen=True)
class _Target:
    """One thing to build: a Flux Kustomization (or a root kustomization dir) and its options."""

    id: ObjectId
    where: Document | KObject  # where findings about this build point
    path: str  # repository-relative dir
    options: str  # JSON of the options that change kustomize's output
    spec: dict[str, Any]
    cluster: str = ""  # the sync root that applies it ("" without sync roots)

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, self.options)

    @property
    def home(self) -> Document:
        """The document that defines this build (findings and skips point into it)."""
        return self.where.document if isinstance(self.where, KObject) else self.where

    @property
    def build_key(self) -> BuildKey:
        return BuildKey(self.id, self.home.file, self.cluster)


_BUILD_OPTIONS = ("targetNamespace", "namePrefix", "nameSuffix", "patches", "images",
                  "components", "ignoreMissingComponents")


def _spec(obj: KObject) -> dict[str, Any]:
    spec = obj.data.get("spec")
    return spec if isinstance(spec, dict) else {}


def _self_sources(objects: list[KObject]) -> tuple[set[tuple[str, str]], bool]:
    """GitRepositories (ns, name) that are this repository, and whether flux-system is here."""
    repos = [o for o in objects if o.id.group == SOURCE_GROUP and o.id.kind == "GitRepository"]
    own = [o for o in repos if o.id.name == "flux-system"]
    if not own:
        return {(o.id.namespace, o.id.name) for o in repos}, False
    urls = {_spec(o).get("url") for o in own} - {None}
    return {(o.id.namespace, o.id.name) for o in repos
            if o.id.name == "flux-system" or _spec(o).get("url") in urls}, True


def _flux_targets(
    root: Path, objects: list[KObject], result: BuildResult
) -> tuple[list[_Target], bool]:
    """Flux Kustomizations sourced from this repo; (targets, any Flux Kustomization is ours)."""
    self_refs, bootstrapped = _self_sources(objects)
    targets: list[_Target] = []
    ours = False
    for obj in objects:
        if obj.id.group != FLUX_KS_GROUP or obj.id.kind != "Kustomization":
            continue
        spec = _spec(obj)
        ref = spec.get("sourceRef") if isinstance(spec.get("sourceRef"), dict) else {}
        kind = str(ref.get("kind", "GitRepository"))
        ns = str(ref.get("namespace") or obj.id.namespace)
        name = str(ref.get("name", ""))
        line = obj.locate(("spec", "sourceRef"))[0]
        external = Skipped(obj.document.file, line, "build",
                           f"external source: {kind}/{ns}/{name}" if ns
                           else f"external source: {kind}/{name}", str(obj.id))
        if kind != "GitRepository" or (ns, name) not in self_refs:
            result.skips.append(external)
            continue
        raw_path = spec.get("path", "")
        path = _join(".", str(raw_path).lstrip("/")) if raw_path else "."
        if path is None or not (root / path).is_dir():
            if not bootstrapped:  # a GitRepository defined here may well be another repository
                result.skips.append(external)
                continue
            ours = True
            result.findings.append(_R["FF302"].at(
                obj, ("spec", "path"),
                f"spec.path {raw_path!r} is not a directory in this repository"))
            continue
        ours = True
        options = json.dumps({k: spec.get(k) for k in _BUILD_OPTIONS if k in spec},
                             sort_keys=True)
        targets.append(_Target(obj.id, obj, path, options, spec))
    return targets, ours


@dataclass(frozen=True)
class _Reach:
    """What a build reads: remote bases (cannot be built offline) and local resource files."""

    remote: tuple[str, ...]
    files: frozenset[str]
    configs: frozenset[str] = frozenset()  # folders whose kustomization.yaml the build reads


def _reach(root: Path, starts: list[str], kustomizations: dict[str, Document],
           kdirs: frozenset[str], listing: list[str]) -> _Reach:
    """Follow resources/bases/components from ``starts`` (dirs), as kustomize would."""
    remote: set[str] = set()
    files: set[str] = set()
    configs: set[str] = set()
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        here = todo.pop()
        if here in seen:
            continue
        seen.add(here)
        doc = kustomizations.get(here)
        if doc is None:
            if here in kdirs or not (root / here).is_dir():
                continue  # an unreadable kustomization.yaml: the build reports it
            for ref in _generated_resources(here, kdirs, listing):
                if ref in kdirs:
                    todo.append(ref)
                else:
                    files.add(ref)
            continue
        configs.add(here)
        data = doc.data if isinstance(doc.data, dict) else {}
        for ref in _strings(data.get("resources")) + _strings(data.get("bases")) + _strings(
                data.get("components")):
            if is_remote(ref):
                remote.add(ref)
                continue
            target = _join(here, ref)
            if target is None:
                continue
            if (root / target).is_dir():
                todo.append(target)
            else:
                files.add(target)
    return _Reach(tuple(sorted(remote)), frozenset(files), frozenset(configs))


# kustomization.yaml fields that neither rename objects nor generate them: builds using only
# these can share a kustomize process (kustomize_batch) without changing their output.
_BATCH_SAFE_FIELDS = frozenset({
    "apiVersion", "kind", "metadata", "resources", "bases", "components", "namespace",
    "commonLabels", "labels", "commonAnnotations", "patches", "patchesStrategicMerge",
    "patchesJson6902", "images", "replicas", "sortOptions", "buildMetadata"})
_BATCH_MEMBERS = 32
_BATCH_OBJECTS = 320


def _batchable(target: _Target, reach: _Reach, kustomizations: dict[str, Document]) -> bool:
    if any(k in target.spec for k in ("namePrefix", "nameSuffix")):
        return False
    for folder in reach.configs:
        data = kustomizations[folder].data
        if not isinstance(data, dict) or not set(data) <= _BATCH_SAFE_FIELDS:
            return False
    return True


def _plan(keys: list[tuple[str, str]], first: dict[tuple[str, str], _Target],
          reaches: dict[tuple[str, str], _Reach], kustomizations: dict[str, Document],
          objects: list[KObject]) -> list[list[tuple[str, str]]]:
    """Group builds that can share a kustomize process: nothing renamed, and no two members
    define the same object (it would collide in the batch). A member that sets namespaces
    (targetNamespace, ``namespace:``) collides on kind and name alone."""
    ids_in: dict[str, set[tuple[str, str, str]]] = {}
    for obj in objects:
        ids_in.setdefault(obj.document.file, set()).add(
            (obj.id.kind, obj.id.namespace, obj.id.name))
    groups: list[list[tuple[str, str]]] = []
    batches: list[_Batch] = []
    for key in keys:
        target, reach = first[key], reaches[key]
        if not _batchable(target, reach, kustomizations):
            groups.append([key])
            continue
        ids: set[tuple[str, str, str]] = set().union(*(ids_in.get(f, ()) for f in reach.files))
        moves = "targetNamespace" in target.spec or any(
            "namespace" in kustomizations[c].data for c in reach.configs)
        if moves and any(kind == "Namespace" for kind, _, _ in ids):
            groups.append([key])  # the namespace transformer renames Namespace objects too
            continue
        for batch in batches:
            if batch.admits(ids, moves):
                batch.add(key, ids, moves)
                break
        else:
            batch = _Batch()
            batch.add(key, ids, moves)
            batches.append(batch)
    return groups + [b.members for b in batches]


@dataclass
class _Batch:
    """Builds that will share one kustomize process, and the objects they define."""

    members: list[tuple[str, str]] = field(default_factory=list)
    exact: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, namespace, name)
    named: set[tuple[str, str]] = field(default_factory=set)  # (kind, name) of every member
    moved: set[tuple[str, str]] = field(default_factory=set)  # ... of members moving namespaces

    def admits(self, ids: set[tuple[str, str, str]], moves: bool) -> bool:
        if len(self.members) >= _BATCH_MEMBERS or len(self.exact) + len(ids) > _BATCH_OBJECTS:
            return False
        named = {(kind, name) for kind, _, name in ids}
        if moves:
            return self.named.isdisjoint(named)
        return self.exact.isdisjoint(ids) and self.moved.isdisjoint(named)

    def add(self, key: tuple[str, str], ids: set[tuple[str, str, str]], moves: bool) -> None:
        named = {(kind, name) for kind, _, name in ids}
        self.members.append(key)
        self.exact |= ids
        self.named |= named
        if moves:
            self.moved |= named


@dataclass
class _FileIndex:
    """File objects by kind and name, and by kind, namespace and name."""

    by_name: dict[tuple[str, str, str], list[KObject]] = field(default_factory=dict)
    by_id: dict[ObjectId, list[KObject]] = field(default_factory=dict)


def _sources(objects: list[KObject]) -> _FileIndex:
    index = _FileIndex()
    for obj in objects:
        index.by_name.setdefault((obj.id.group, obj.id.kind, obj.id.name), []).append(obj)
        index.by_id.setdefault(obj.id, []).append(obj)
    return index


def _source_file(oid: ObjectId, reach: _Reach, index: _FileIndex) -> str:
    """The file a built object came from: the one reachable file object of that kind and name
    (the namespace decides between several); "" when generated, renamed or ambiguous.

    The same-namespace lookup comes first: a name like a tenant's ServiceAccount ``flux`` is
    in every tenant's folder, and scanning them all per object would be quadratic."""
    exact = [o for o in index.by_id.get(oid, ()) if o.document.file in reach.files]
    if len(exact) == 1:
        return exact[0].document.file
    found = [o for o in index.by_name.get((oid.group, oid.kind, oid.name), ())
             if o.document.file in reach.files]
    if len(found) > 1:
        found = [o for o in found if o.id.namespace == oid.namespace]
    return found[0].document.file if len(found) == 1 else ""


def _excluded(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in _ARTIFACT_EXCLUDED_DIRS for p in parts[:-1]) or (
        parts[-1] in _ARTIFACT_EXCLUDED_FILES)


def _kustomize_dirs(listing: list[str], cls: Classification) -> frozenset[str]:
    """Dirs holding a kustomization file (loaded or not: a broken one still counts)."""
    names = [f for f in listing if posixpath.basename(f) in KUSTOMIZE_FILES]
    return frozenset(_dir_of(f) for f in [*names, *cls.kustomization_files]
                     if posixpath.basename(f) in KUSTOMIZE_FILES)


def _generated_resources(path: str, kdirs: frozenset[str], listing: list[str]) -> list[str]:
    """What kustomize-controller's generated kustomization.yaml lists for a plain folder.

    Every manifest below ``path``, except inside a subfolder that has its own
    kustomization.yaml: that subfolder is listed as one directory resource instead.
    """
    prefix = "" if path == "." else path + "/"
    below = [d for d in kdirs if d not in (path, ".") and d.startswith(prefix)]
    subdirs = [d for d in below if not any(d.startswith(s + "/") for s in below)]
    out = list(subdirs)
    for name in listing:
        if not name.startswith(prefix) or _excluded(name[len(prefix):]):
            continue
        if any(name.startswith(d + "/") for d in subdirs):
            continue
        out.append(name)
    return sorted(out)


def _wrapper(target: _Target, root: Path, workdir: Path, kdirs: frozenset[str],
             listing: list[str]) -> dict[str, Any]:
    """The kustomization that builds ``target`` the way the controller would."""

    def rel(repo_path: str) -> str:
        return os.path.relpath(root / repo_path, workdir)

    if target.path in kdirs:
        resources = [rel(target.path)]
    else:
        resources = [rel(r) for r in _generated_resources(target.path, kdirs, listing)]
    kus: dict[str, Any] = {
        "apiVersion": f"{KUSTOMIZE_GROUP}/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    spec = target.spec
    if isinstance(spec.get("targetNamespace"), str):
        kus["namespace"] = spec["targetNamespace"]
    for key in ("namePrefix", "nameSuffix"):
        if isinstance(spec.get(key), str):
            kus[key] = spec[key]
    if isinstance(spec.get("patches"), list):
        kus["patches"] = spec["patches"]
    if isinstance(spec.get("images"), list):
        kus["images"] = spec["images"]
    components = []
    for comp in _strings(spec.get("components")):
        repo_comp = _join(target.path, comp)
        exists = repo_comp is not None and (root / repo_comp).exists()
        if not exists and spec.get("ignoreMissingComponents"):
            continue
        components.append(rel(repo_comp) if repo_comp is not None else comp)
    if components:
        kus["components"] = components
    return kus


_Parsed = tuple[list[Document], list[Finding]]


def _parse_built(text: str, target: _Target, memo: dict[tuple[str, str], _Parsed]) -> _Parsed:
    """kustomize's output as documents. Clusters build the same base: that text is parsed
    once and its objects' data shared, which is safe because nothing downstream changes an
    object (substitution makes new ones; commonMetadata is applied to a private copy)."""
    key = (target.path, text)
    found = memo.get(key)
    if found is None:
        docs, problems = load_text(text, f"<kustomize build {target.path}>")
        for doc in docs:
            kustomize_batch.unmark(doc.data)
        found = memo[key] = (docs, problems)
    return found


def _objects(text: str, target: _Target, reach: _Reach,
             index: _FileIndex,
             result: BuildResult, memo: dict[tuple[str, str], _Parsed],
             known: Known | None = None, subs: varsub.Memo | None = None,
             placed: dict[tuple[int, int], tuple[Any, ObjectId, str]] | None = None,
             ) -> list[KObject]:
    """The objects one cluster gets from a build's output. ``subs``, ``placed``: the run's
    memos (a shared base's objects are substituted, identified and traced to their file
    once, not once per cluster; keyed by identity, kept alive by the parse memo)."""
    meta_common = target.spec.get("commonMetadata")
    # commonMetadata changes the objects below: they get a parse of their own
    docs, problems = _parse_built(text, target, {} if isinstance(meta_common, dict) else memo)
    where = target.where
    home = target.home
    for problem in problems:
        result.findings.append(_R["FF301"].at(where, ("spec", "path"),
                                              f"Built output is not valid YAML: {problem.message}"))
    found = varsub.variables(target.spec, target.id.namespace, known)
    if found is not None:
        private = subs is None or isinstance(meta_common, dict)  # changed below: a copy
        done = varsub.apply(docs, found, varsub.Memo() if private else subs)
        docs = done.documents
        for message in done.problems:  # substituted values can break the YAML, as in Flux
            result.findings.append(_R["FF301"].at(
                where, ("spec", "postBuild"),
                f"postBuild substitution fails: {message}"))
        if done.unknown:
            names = ", ".join(sorted(done.unknown))
            if not found.resolved:
                line = where.locate(("spec", "postBuild", "substituteFrom"))[0]
                result.skips.append(Skipped(home.file, line, "substitution",
                                            f"values of {names} come from substituteFrom "
                                            "(not available offline); left as ${VAR}",
                                            str(target.id)))
            else:
                result.findings.append(_R["FF303"].at(
                    where, ("spec", "postBuild"),
                    f"Undefined substitution variable(s) {names}: Flux replaces them with ''"))
    out: list[KObject] = []
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            continue
        meta = data.get("metadata")
        if isinstance(data.get("sops"), dict):
            result.skips.append(Skipped(home.file, where.locate(("spec", "path"))[0], "sops",
                                        "sops: encrypted, values not checked",
                                        str(ObjectId.of(data))))
            continue
        if isinstance(meta_common, dict) and isinstance(meta, dict):
            for key in ("labels", "annotations"):
                extra = meta_common.get(key)
                if isinstance(extra, dict) and extra:
                    current = meta.get(key) if isinstance(meta.get(key), dict) else {}
                    meta[key] = {**current, **extra}
        key = (id(reach), id(data))
        known_place = placed.get(key) if placed is not None else None
        if known_place is None or known_place[0] is not data:
            oid = ObjectId.of(data)  # commonMetadata above changes no part of it
            known_place = (data, oid, _source_file(oid, reach, index))
            if placed is not None:
                placed[key] = known_place
        _, oid, source = known_place
        out.append(KObject(oid, str(data.get("apiVersion", "")), data, home,
                           built_by=target.id, source_file=source))
    return out


def _short(message: str, workdir: Path, root: Path) -> str:
    """kustomize's innermost error, with temp and absolute paths made repository-relative.

    kustomize nests "accumulation err='...'" once per kustomization level and then repeats
    the failure as a directory attempt ("': must build at directory: ..."); users need the
    innermost cause only.
    """
    message = message.replace(str(root) + "/", "").replace(str(workdir) + "/", "")
    message = message.replace(os.path.relpath(root, workdir) + "/", "")
    if "accumulation err='" in message:
        message = message.rsplit("accumulation err='", 1)[1]
        message = message.split("': must build at directory", 1)[0].rstrip("'")
    return message


def _in_bounds(targets: list[_Target], reaches: dict[tuple[str, str], _Reach],
               cls: Classification, staged: staging.Stage, refused: frozenset[str],
               result: BuildResult) -> list[_Target]:
    """The targets whose builds stay inside the stage and read no refused file; the others
    get their located findings (FF304, FF305) instead of a build."""
    verdicts: dict[tuple[str, str], list[Finding]] = {}
    kept: list[_Target] = []
    for t in targets:
        found = verdicts.get(t.key)
        if found is None:
            reach = reaches[t.key]
            found = staging.boundary(reach.configs, cls.kustomizations, staged.refused, refused)
            found += [staging.RULES[1].at(t.where, ("spec", "path"),
                                          f"the build would read {f}, which the loader refused "
                                          "(see its FF105/FF106 finding); it is not run")
                      for f in sorted(reach.files & refused)]
            verdicts[t.key] = found
        result.findings.extend(found)
        if not found:
            kept.append(t)
    return kept


def build_all(
    root: Path,
    documents: list[Document],
    objects: list[KObject],
    *,
    jobs: int | None = None,
    classification: Classification | None = None,
    listing: list[str] | None = None,
    roots: list[SyncRoot] | None = None,
    refused: frozenset[str] = frozenset(),
    omit: Callable[[str], bool] | None = None,
    cache: build_cache.BuildCache | None = None,
    parsed: Mapping[str, list[Document]] | None = None,
) -> BuildResult:
    """Build what each cluster applies from this repository, each distinct build once.

    With sync roots (``reconcile.find_roots``) this follows the tree as the clusters do: each
    root's build, then every Flux Kustomization *in that output* whose source is this
    repository, built from its spec as applied (the parent's patches, substitutions and
    namespace already in it), level by level. Without any root (a tenant repository, a folder
    of bases) every Flux Kustomization sourced from a GitRepository defined here is built, or
    else every root kustomization folder.

    ``listing``: the repository's YAML files (``loader.discover``), when the caller has it;
    ``refused``: files the loader would not read (builds that need them are not run);
    ``omit``: files no cluster's artifact holds (``sourceignore``), left out of the stage.
    Builds read a staged copy of the repository (``staging``), never the checkout itself.
    ``cache``: kustomize outputs of earlier runs, by what each build reads (``build_cache``).
    ``parsed``: the loader's documents of the files it read cleanly (``plain_build.by_file``):
    plain builds take them instead of parsing those files again.
    """
    root = Path(root).resolve()
    result = BuildResult()
    cls = classification or classify(documents)
    listing = discover(root) if listing is None else listing
    if roots is None:
        roots = find_roots(objects, documents, listing)
    result.roots = list(roots)
    if roots:
        targets = _root_targets(root, roots, result)
    else:
        targets, ours = _flux_targets(root, objects, result)
        if not ours:
            for d in cls.root_dirs():
                doc = cls.kustomizations[d]
                oid = ObjectId(KUSTOMIZE_GROUP, "Kustomization", "", d)
                targets.append(_Target(oid, doc, d, "{}", {}))
    if not targets:
        return result
    if kustomize.command() is None:
        for t in targets:
            result.skips.append(Skipped(t.home.file, t.where.locate(("spec", "path"))[0], "build",
                                        "kustomize not found (install kustomize or kubectl)",
                                        str(t.id)))
        return result
    run = _Runner(root, cls, listing, objects, jobs or os.cpu_count() or 1, result, refused,
                  cache=cache, loaded=parsed)
    tmp = tempfile.mkdtemp(prefix="flux-fleet-build-")
    try:
        run.scratch = Path(tmp).resolve()
        run.staged = staging.stage(root, run.scratch / "repo", omit)
        by_cluster = {r.cluster: r for r in roots}
        visited: set[tuple[str, ObjectId]] = {(t.cluster, t.id) for t in targets}
        git_sources: dict[str, dict[tuple[str, str], KObject]] = {}  # cluster -> applied repos
        generated: dict[str, dict[tuple[str, str], list[FolderCopy]]] = {}  # ExternalArtifacts
        level = 0
        while targets:
            level += 1
            produced = run.round(targets)
            if not roots:
                break
            children: list[_Target] = []
            for t, objs in produced:
                generated.setdefault(t.cluster, {}).update(external_artifacts(objs))
                known = git_sources.setdefault(t.cluster, {})
                for o in objs:
                    if o.id.group == SOURCE_GROUP and o.id.kind == "GitRepository":
                        known.setdefault((o.id.namespace, o.id.name), o)
            if level > _MAX_DEPTH:
                for t in targets:
                    result.skips.append(Skipped(
                        t.home.file, t.where.locate(("spec", "path"))[0], "build",
                        f"Flux Kustomizations nest deeper than {_MAX_DEPTH} levels; "
                        "not followed further", str(t.id)))
                break
            for t, objs in produced:
                for child in _children(root, objs, by_cluster[t.cluster],
                                       git_sources[t.cluster], run.index, result,
                                       generated.get(t.cluster, {})):
                    if (child.cluster, child.id) not in visited:
                        visited.add((child.cluster, child.id))
                        children.append(child)
            targets = children
    finally:
        staging.discard(Path(tmp))  # removed while the rules run (``staging.settle``)
    result.count, result.processes = run.count, run.processes
    return result


#: How deep Flux Kustomizations may nest before the tree is not followed further: a bound on
#: work for hostile input; real fleets nest three or four levels.
_MAX_DEPTH = 16


def _root_targets(root: Path, roots: list[SyncRoot], result: BuildResult) -> list[_Target]:
    out = []
    for r in roots:
        if not (root / r.path).is_dir():
            result.findings.append(_R["FF302"].at(
                r.where, ("spec", "path") if r.how == "gotk-sync" else ("spec", "sync", "path"),
                f"sync path {r.path!r} of cluster {r.cluster} is not a directory in this "
                "repository"))
            continue
        out.append(_target(r.id, r.where, r.path, r.spec, r.cluster))
    return out


def _target(oid: ObjectId, where: Document | KObject, path: str, spec: dict[str, Any],
            cluster: str) -> _Target:
    options = json.dumps({k: spec.get(k) for k in _BUILD_OPTIONS if k in spec}, sort_keys=True,
                         default=str)
    return _Target(oid, where, path, options, spec, cluster)


def _children(root: Path, objs: list[KObject], sync: SyncRoot,
              git_sources: dict[tuple[str, str], KObject], index: _FileIndex,
              result: BuildResult,
              generated: dict[tuple[str, str], list[FolderCopy]] | None = None
              ) -> list[_Target]:
    """The Flux Kustomizations a build applies whose source is this repository on that
    cluster (the root's source, or a GitRepository the cluster applies with the same URL and
    ref): the next level of the tree, each in the form the parent applies it."""
    applied = [o for o in objs if o.id.group == FLUX_KS_GROUP and o.id.kind == "Kustomization"]
    out = []
    for obj in applied:
        spec = _spec(obj)
        ref = spec.get("sourceRef") if isinstance(spec.get("sourceRef"), dict) else {}
        kind = str(ref.get("kind") or "")
        ns = str(ref.get("namespace") or obj.id.namespace)
        name = str(ref.get("name") or "")
        where = _located(obj, index)
        line = where.locate(("spec", "sourceRef"))[0]
        home = where.document
        ours = (kind, ns, name) == (sync.source.kind, sync.source.namespace, sync.source.name)
        from_generator = None
        if kind == "ExternalArtifact" and generated and (ns, name) in generated:
            mapped = source_path(generated[(ns, name)], spec.get("path"))
            if mapped is not None and mapped[0] == sync.source:
                from_generator = sync.resolve(mapped[1])
                ours = True
        if not ours and kind == "GitRepository" and (ns, name) in git_sources:
            other = _spec(git_sources[(ns, name)])
            same = sync.same_repository(other.get("url"), other.get("ref"))
            if same is False and reconcile.normalise_url(other.get("url")) == sync.url:
                result.skips.append(Skipped(
                    home.file, line, "build",
                    f"{kind}/{ns}/{name} is this repository at another ref "
                    f"({reconcile.git_ref(other.get('ref')) or 'default branch'}): another "
                    "tree, not built", str(obj.id)))
                continue
            ours = bool(same)
            folder_root = False  # a Git source is the whole repository, not the root's folder
        else:
            folder_root = ours
        if not ours:
            result.skips.append(Skipped(home.file, line, "build",
                                        f"external source: {kind}/{ns}/{name}", str(obj.id)))
            continue
        if from_generator is not None:
            path = from_generator
        elif folder_root:
            path = sync.resolve(spec.get("path"))
        else:
            path = reconcile.repo_path(spec.get("path"))
        if path is None or not (root / path).is_dir():
            result.findings.append(_R["FF302"].at(
                where, ("spec", "path"),
                f"spec.path {spec.get('path')!r} is not a directory in this repository "
                f"(cluster {sync.cluster})"))
            continue
        out.append(_target(obj.id, where, path, spec, sync.cluster))
    return out


def relocate(built: list[KObject], objects: list[KObject]) -> list[KObject]:
    """Built objects placed at the file objects they came from, so that a finding about one
    points at the line where it is written (once, whichever clusters apply it)."""
    index = _sources(objects)
    return [_located(obj, index) for obj in built]


def _located(obj: KObject, index: _FileIndex) -> KObject:
    """A built object with the document of the file object it came from, when that is known:
    findings about it then point at the line where it is written."""
    for cand in index.by_id.get(obj.id, ()):
        if cand.document.file == obj.source_file:
            return KObject(obj.id, obj.api_version, obj.data, cand.document,
                           source_file=obj.source_file)
    for cand in index.by_name.get((obj.id.group, obj.id.kind, obj.id.name), ()):
        if cand.document.file == obj.source_file:
            return KObject(obj.id, obj.api_version, obj.data, cand.document,
                           source_file=obj.source_file)
    return obj


@dataclass
class _Runner:
    """Runs the builds of one level of the tree: each distinct (path, options) once per run,
    small builds batched into shared kustomize processes."""

    root: Path
    cls: Classification
    listing: list[str]
    objects: list[KObject]
    jobs: int
    result: BuildResult
    refused: frozenset[str] = frozenset()  # files the loader would not read
    scratch: Path = Path()
    staged: staging.Stage | None = None  # the copy of the repository kustomize reads
    count: int = 0
    processes: int = 0
    outputs: dict[tuple[str, str], tuple[str | None, str]] = field(default_factory=dict)
    workdirs: dict[tuple[str, str], Path] = field(default_factory=dict)
    reaches: dict[tuple[str, str], _Reach] = field(default_factory=dict)
    parsed: dict[tuple[str, str], _Parsed] = field(default_factory=dict)
    known: dict[str, Known] = field(default_factory=dict)  # cluster -> ConfigMaps/Secrets
    cache: build_cache.BuildCache | None = None
    loaded: Mapping[str, list[Document]] | None = None  # the loader's documents, by file
    subs: varsub.Memo = field(default_factory=varsub.Memo)  # substitution work shared
    placed: dict[tuple[int, int], tuple[Any, ObjectId, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kdirs = _kustomize_dirs(self.listing, self.cls)
        self.index = _sources(self.objects)
        self._files = frozenset(self.listing)
        self._kustomization_files = Counter(
            _dir_of(f) for f in self.listing if posixpath.basename(f) in KUSTOMIZE_FILES)

    def round(self, targets: list[_Target]) -> list[tuple[_Target, list[KObject]]]:
        buildable: list[_Target] = []
        for t in targets:
            reach = self.reaches.get(t.key)
            if reach is None:
                comps = [c for c in (_join(t.path, c) for c in _strings(t.spec.get("components")))
                         if c is not None]
                reach = self.reaches[t.key] = _reach(self.root, [t.path, *comps],
                                                     self.cls.kustomizations, self.kdirs,
                                                     self.listing)
            if reach.remote:
                self.result.skips.append(Skipped(
                    t.home.file, t.where.locate(("spec", "path"))[0], "remote-base",
                    f"remote base {', '.join(reach.remote)} cannot be built offline", str(t.id)))
            else:
                buildable.append(t)
        assert self.staged is not None
        buildable = _in_bounds(buildable, self.reaches, self.cls, self.staged, self.refused,
                               self.result)
        first: dict[tuple[str, str], _Target] = {}
        for t in buildable:
            if t.key not in self.outputs:
                first.setdefault(t.key, t)
        keys = sorted(first)
        if keys:
            self._build(keys, first)
        produced = []
        for t in buildable:
            text, error = self.outputs[t.key]
            if text is None:
                hint = None
                if t.path not in self.kdirs and "missing Resource metadata" in error:
                    hint = ("This folder has no kustomization.yaml, so every .yaml file in it is "
                            "applied: move non-Kubernetes YAML (Helm values, configs) elsewhere "
                            "or add a kustomization.yaml that lists the manifests")
                self.result.unbuilt |= self.reaches[t.key].files
                self.result.findings.append(_R["FF301"].at(
                    t.where, ("spec", "path"),
                    f"kustomize build {t.path} failed: "
                    f"{redact.error_text(_short(error, self.workdirs[t.key], self.staged.root))}",
                    hint))
                continue
            known = self.known.setdefault(t.cluster, {})
            objs = _objects(text, t, self.reaches[t.key], self.index, self.result, self.parsed,
                            known, self.subs, self.placed)
            known.update(known_values(objs))
            self.result.built.setdefault(t.build_key, []).extend(objs)
            self.result.reached |= self.reaches[t.key].files
            produced.append((t, objs))
        return produced

    def _build(self, keys: list[tuple[str, str]], first: dict[tuple[str, str], _Target]) -> None:
        start = len(self.workdirs)
        workdirs = {key: self.scratch / f"b{start + i}" for i, key in enumerate(keys)}
        self.workdirs.update(workdirs)
        groups = _plan(keys, first, self.reaches, self.cls.kustomizations, self.objects)
        shared = {key for group in groups if len(group) > 1 for key in group}
        plain = self._plain(first, workdirs)
        groups = [[k for k in g if k not in plain or plain[k].rest] for g in groups]
        groups = [g for g in groups if g]
        cache_keys: dict[tuple[str, str], str] = {}
        hits: dict[tuple[str, str], str] = {}  # outputs from the build cache
        wanted = {k for g in groups for k in g}  # the builds kustomize would run
        for key, workdir in workdirs.items():
            assert self.staged is not None
            if key in plain and not plain[key].rest:
                continue  # nothing for kustomize (its full build is written only if needed)
            kus = _wrapper(first[key], self.staged.root, workdir, self.kdirs, self.listing)
            if key in plain:
                kus["resources"] = [os.path.relpath(self.staged.root / r, workdir)
                                    for r in plain[key].rest]
            if self.cache is not None and key in wanted:
                found = self._cache_key(key, kus)
                text = self.cache.get(found) if found is not None else None
                if text is not None:
                    hits[key] = text
                    if key not in plain:
                        continue  # nothing of this build is needed on disk
                elif found is not None:
                    cache_keys[key] = found
            workdir.mkdir()
            if key in shared:
                kus["transformers"] = [kustomize_batch.mark(workdir)]
            (workdir / "kustomization.yaml").write_text(kustomize_batch.dump(kus))
        groups = [g for g in ([k for k in g if k not in hits] for g in groups) if g]
        outputs, processes = kustomize_batch.build_groups(
            groups, workdirs, self.scratch, self.jobs,
            lambda key, text: key in plain or self._preparse(first[key], text))
        if self.cache is not None:
            for key, (text, _) in outputs.items():
                if text is not None and key in cache_keys:
                    self.cache.put(cache_keys[key], text)
            for key, text in hits.items():
                outputs[key] = (text, "")
                if key not in plain:
                    self._preparse(first[key], text)
            self.result.cached |= set(hits)
        processes += self._join_plain(plain, first, outputs, workdirs)
        self.outputs.update(outputs)
        self.processes += processes
        self.count += len(keys)

    def _cache_key(self, key: tuple[str, str], wrapper: dict[str, Any]) -> str | None:
        """The build's ``build_cache`` key: its wrapper (before any batch mark) and every
        staged file it reads; None when that cannot be known."""
        assert self.cache is not None and self.staged is not None
        reach = self.reaches[key]
        kus = self.cls.kustomizations
        inputs = self.cache.inputs(
            self.staged.root, reach.files, {c: kus[c].file for c in reach.configs},
            lambda folder: kus[folder].data, _file_refs)
        if inputs is None:
            return None
        return self.cache.key({**wrapper, "flux-fleet.dev/target": list(key)}, inputs,
                              self.staged.root)

    def _plain(self, first: dict[tuple[str, str], _Target],
               workdirs: dict[tuple[str, str], Path]) -> dict[tuple[str, str], plain_build.Split]:
        """The builds whose files need no kustomize (``plain_build``), by key."""
        assert self.staged is not None
        root = self.staged.root
        out = {}
        for key in workdirs:
            t = first[key]
            if t.path in self.kdirs:
                own = self.cls.kustomizations.get(t.path)
                resources = None if own is None else plain_build.listed(
                    t.path, own.data, self.kdirs, self._files)
                if resources is None or self._kustomization_files.get(t.path, 0) != 1:
                    continue
            else:
                resources = _generated_resources(t.path, self.kdirs, self.listing)
            found = plain_build.split(t.path, t.spec, resources, self.kdirs,
                                      lambda rel: (root / rel).read_bytes(), self.loaded)
            if found is not None:
                out[key] = found
        return out

    def _join_plain(self, plain: dict[tuple[str, str], plain_build.Split],
                    first: dict[tuple[str, str], _Target],
                    outputs: dict[tuple[str, str], tuple[str | None, str]],
                    workdirs: dict[tuple[str, str], Path]) -> int:
        """Each plain build's output: kustomize's part and the files' documents, parsed once;
        the full kustomize build where the parts would not be what it gives."""
        processes = 0
        for key, part in plain.items():
            built, _ = outputs.get(key, ("", ""))
            docs: list[Document] = []
            if built:
                built_docs, problems = _parse_built(built, first[key], {})
                docs = [] if problems else list(built_docs)
            if built is not None and plain_build.unique([*docs, *part.documents]) \
                    and (not built or docs):
                text = part.joined(built)
                outputs[key] = (text, "")
                self.parsed[(first[key].path, text)] = ([*docs, *part.documents], [])
                continue
            processes += 1
            assert self.staged is not None
            full = workdirs[key] / "full"  # the whole build, now that kustomize is needed
            full.mkdir(parents=True)
            (full / "kustomization.yaml").write_text(kustomize_batch.dump(
                _wrapper(first[key], self.staged.root, full, self.kdirs, self.listing)))
            try:
                outputs[key] = (kustomize.build(full), "")
            except kustomize.KustomizeError as err:
                outputs[key] = (None, err.first_error)
        return processes

    def _preparse(self, target: _Target, text: str) -> None:
        """Parse a build's output while the other builds run (what ``_objects`` will ask)."""
        if not isinstance(target.spec.get("commonMetadata"), dict):
            _parse_built(text, target, self.parsed)
