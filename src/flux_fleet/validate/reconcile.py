"""Sync roots: where each cluster starts reconciling this repository.

A cluster reconciles a repository from one Flux Kustomization that an installer created: the
``flux-system`` Kustomization of ``flux bootstrap`` (committed in ``gotk-sync.yaml``), the one the
Flux Operator generates from a ``FluxInstance``'s ``spec.sync``, or one made by hand or by
another tool. Everything the cluster applies from the repository hangs below that root: its
build, the Flux Kustomizations in that build whose source is this same repository, their
builds, and so on (``checks.build`` follows that tree). This module finds the roots, the way
each installer lays them down, and decides which sources are "this repository" (normalised URL
*and* ref: another branch of the same URL is another tree).

Facts followed:
- flux bootstrap writes ``<path>/flux-system/{gotk-components,gotk-sync,kustomization}.yaml``
  with a GitRepository and a Kustomization both named ``flux-system`` whose ``spec.path`` is the
  ``--path`` (fluxcd/flux2 ``pkg/manifestgen/sync``). Until it runs, ``gotk-sync.yaml`` may be
  absent or a placeholder: the root is then the folder that holds ``flux-system/``.
- The Flux Operator "creates the Flux objects in the same namespace where the FluxInstance is
  deployed using the namespace name as the Flux source and Kustomization name"
  (fluxoperator.dev/docs/instance/sync), with ``spec.sync.{kind,url,ref,path}``.
- An artifact is the source's root: kustomize-controller joins ``spec.path`` to it with
  SecureJoin. When CI pushes a folder of this repository as an OCI artifact
  (``flux push artifact --path=./kubernetes``), the cluster's paths are relative to that
  folder; nothing in the repository says so, ``.flux-fleet.yaml`` ``sync:`` declares it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flux_fleet import flux
from flux_fleet.model import Document, KObject, ObjectId

OPERATOR_GROUP = "fluxcd.controlplane.io"
ROOT_SOURCE_KINDS = frozenset({"GitRepository", "OCIRepository", "Bucket"})
_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!\d+/)(.+)$")  # git@host:org/repo (no port)


def normalise_url(url: Any) -> str:
    """A repository URL reduced to host[:port]/path, so https, ssh and scp forms compare equal.

    Scheme, user, a trailing ``.git`` and slashes go; host is lower-cased. The default ports of
    the schemes are dropped, any other port is kept (``git.example.com:2222`` is another host).
    """
    if not isinstance(url, str) or not url.strip():
        return ""
    text = url.strip()
    scheme = ""
    if "://" in text:
        scheme, _, text = text.partition("://")
        scheme = scheme.lower()
    else:
        scp = _SCP.match(text)
        if scp:
            text = f"{scp.group(1)}/{scp.group(2)}"
    text = text.split("@", 1)[-1] if "@" in text.split("/", 1)[0] else text
    host, _, path = text.partition("/")
    host = host.lower()
    default = {"https": ":443", "http": ":80", "ssh": ":22"}.get(scheme, "")
    if default and host.endswith(default):
        host = host[: -len(default)]
    path = path.strip("/")
    path = path.removesuffix(".git").strip("/")
    return f"{host}/{path}" if path else host


def git_ref(spec: Any) -> str:
    """A GitRepository's ``spec.ref`` as one comparable string ("" = the controller's default).

    ``branch: main`` and the operator's ``refs/heads/main`` are the same ref."""
    if isinstance(spec, str):  # FluxInstance spec.sync.ref
        ref = spec.strip()
        for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
            if ref.startswith(prefix):
                return f"{kind}:{ref[len(prefix):]}"
        return f"name:{ref}" if ref else ""
    if not isinstance(spec, dict):
        return ""
    for key in ("commit", "name", "semver", "tag", "branch"):  # the controller's precedence
        value = spec.get(key)
        if isinstance(value, str) and value:
            if key == "name":
                return git_ref(value)
            return f"{key}:{value}"
    return ""


def repo_path(value: Any) -> str:
    """A Flux ``spec.path`` as a repository-relative folder ("." for the root), resolved the
    way kustomize-controller resolves it: ``securejoin.SecureJoin(artifactDir, spec.path)``,
    where ``..`` above the root stays at the root (``../components/x`` is ``components/x``)."""
    parts: list[str] = []
    for part in str(value or "").strip().replace("\\", "/").split("/"):
        if part == "..":
            if parts:
                parts.pop()  # SecureJoin: '..' stops at the root, it never leaves it
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts) or "."


def _under(file: str, folder: str) -> bool:
    return folder == "." or file.startswith(folder + "/")


@dataclass(frozen=True)
class SourceKey:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class DeclaredSync:
    """A sync root that ``.flux-fleet.yaml`` declares, for what no manifest here tells: the
    source the cluster has for this repository, the folder of this repository that is that
    source's root (``flux push artifact --path``), and the root Kustomization's ``spec.path``
    inside it."""

    path: str
    source: SourceKey = SourceKey("GitRepository", flux.PLATFORM_NAMESPACE,
                                  flux.PLATFORM_NAMESPACE)
    folder: str = "."
    ignore: str | None = None  # extra ignore patterns (``--ignore-paths``, ``spec.ignore``)
    line: int = 1  # where the entry is written in the config file


@dataclass(frozen=True)
class SyncRoot:
    """One cluster's entry into this repository.

    ``cluster`` names the cluster by its sync path ("clusters/staging"), which is also the
    scope its objects are grouped by. ``spec`` is the root Kustomization's spec as the cluster
    has it (from the file, or as the installer generates it).
    """

    cluster: str
    id: ObjectId  # the root Kustomization
    source: SourceKey
    url: str  # normalised; "" when this repository's URL is not written anywhere
    ref: str
    how: str  # gotk-sync | flux-instance | bootstrap-path | config
    where: KObject | Document  # findings and skips about the root point here
    spec: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    folder: str = "."  # the folder of this repository that is the source's artifact root
    spec_ignore: str | None = None  # the source's spec.ignore, when the source is written here

    @property
    def path(self) -> str:
        return self.resolve(self.spec.get("path"))

    def resolve(self, value: Any) -> str:
        """A ``spec.path`` of this root's source as a repository folder: SecureJoin inside the
        artifact, which is ``folder`` of this repository."""
        inner = repo_path(value)
        if self.folder == ".":
            return inner
        return self.folder if inner == "." else f"{self.folder}/{inner}"

    def named(self) -> SyncRoot:
        """This root with ``cluster`` set to its sync path (for roots built before it is known)."""
        return SyncRoot(self.path, self.id, self.source, self.url, self.ref, self.how,
                        self.where, self.spec, self.folder, self.spec_ignore)

    def same_repository(self, url: Any, ref: Any) -> bool | None:
        """Is a source with this URL and ref this repository? None when it cannot be told."""
        if not self.url:
            return None
        return normalise_url(url) == self.url and git_ref(ref) == self.ref


def _spec(data: dict[str, Any]) -> dict[str, Any]:
    spec = data.get("spec")
    return spec if isinstance(spec, dict) else {}


def _source_of(ks: KObject) -> SourceKey | None:
    ref = _spec(ks.data).get("sourceRef")
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
        return None
    kind = str(ref.get("kind") or "")
    if kind not in ROOT_SOURCE_KINDS:
        return None
    return SourceKey(kind, str(ref.get("namespace") or ks.id.namespace), ref["name"])


def find_roots(objects: Iterable[KObject], documents: Iterable[Document], listing: list[str],
               declared: Iterable[DeclaredSync] = ()) -> list[SyncRoot]:
    """Every cluster's sync root in this repository, outermost only, sorted by path."""
    objects = list(objects)
    sources: dict[SourceKey, KObject] = {}
    for obj in objects:
        if obj.id.group == flux.SOURCE_GROUP and obj.id.kind in ROOT_SOURCE_KINDS:
            sources.setdefault(SourceKey(obj.id.kind, obj.id.namespace, obj.id.name), obj)
    candidates: list[SyncRoot] = []
    for obj in objects:
        if (obj.id.group, obj.id.kind) == (flux.KUSTOMIZE_GROUP, "Kustomization"):
            root = _gotk_sync(obj, sources)
        elif (obj.id.group, obj.id.kind) == (OPERATOR_GROUP, "FluxInstance"):
            root = _flux_instance(obj, listing)
        elif (obj.id.group, obj.id.kind) == (flux.HELM_GROUP, "HelmRelease"):
            root = _flux_instance_chart(obj, sources, listing)
        else:
            root = None
        if root is not None:
            candidates.append(root)
    candidates = _this_repository(candidates)
    covered = {r.path for r in candidates}
    for folder, doc in _bootstrap_folders(documents, listing):
        if folder not in covered:
            prefix = f"{folder}/flux-system/" if folder != "." else "flux-system/"
            own = next((src for key, src in sorted(sources.items(), key=lambda kv: str(kv[0]))
                        if src.document.file.startswith(prefix)), None)
            candidates.append(_synthetic(folder, "bootstrap-path", doc, own))
            covered.add(folder)
    candidates.extend(_declared(entry, sources) for entry in declared)  # declared roots win
    # a Kustomization of another source that would swallow an installer's root (a tenant's
    # GitRepository at ``path: ./``, this repository on another branch) is not a root
    strong = [r for r in candidates if r.how != "gotk-sync"]
    declared_paths = {r.path for r in candidates if r.how == "config"}
    candidates = [r for r in candidates if r.how == "config" or r.path not in declared_paths]
    candidates = [r for r in candidates if r.how != "gotk-sync" or not any(
        s.path != r.path and _under(s.path, r.path) and s.source != r.source for s in strong)]
    # a root whose defining file another root's path already holds is that root's child
    outer = [r for r in candidates
             if not any(o.path != r.path and _under(r.path, o.path) and _file_of(r) != ""
                        and _under(_file_of(r), o.path) for o in candidates)]
    unique: dict[str, SyncRoot] = {}
    for r in sorted(outer, key=lambda r: (r.path, r.how != "gotk-sync")):
        unique.setdefault(r.path, r)
    return list(unique.values())


def _this_repository(candidates: list[SyncRoot]) -> list[SyncRoot]:
    """Drop self-including Kustomizations whose source is another repository.

    A Kustomization at ``path: ./`` of a tenant's GitRepository "holds its own file" only by
    the look of the paths: its path is in the other repository. This repository's URL is the
    one the installers' roots (``flux-system`` sources, FluxInstance syncs) point at.
    """
    own = {r.url for r in candidates if r.url and (
        r.how == "flux-instance" or r.source.name == flux.PLATFORM_NAMESPACE)}
    if not own:
        return candidates
    return [r for r in candidates if not r.url or r.url in own]


def _file_of(root: SyncRoot) -> str:
    where = root.where
    return where.document.file if isinstance(where, KObject) else where.file


def _gotk_sync(obj: KObject, sources: dict[SourceKey, KObject]) -> SyncRoot | None:
    """A Kustomization whose build holds its own file (it reconciles itself) and whose source
    is defined here: the shape ``flux bootstrap`` commits, and hand-made equivalents."""
    spec = _spec(obj.data)
    path = repo_path(spec.get("path"))
    source = _source_of(obj)
    if path is None or source is None or not _under(obj.document.file, path):
        return None
    src = sources.get(source)
    if src is None and (source.namespace, source.name) != (obj.id.namespace, obj.id.name):
        return None
    src_spec = _spec(src.data) if src is not None else {}
    url = normalise_url(src_spec.get("url")) if source.kind == "GitRepository" else ""
    return SyncRoot(path, obj.id, source, url, git_ref(src_spec.get("ref")), "gotk-sync",
                    obj, spec, spec_ignore=_ignore_of(src_spec))


def _flux_instance_chart(obj: KObject, sources: dict[SourceKey, KObject],
                         listing: list[str]) -> SyncRoot | None:
    """A HelmRelease of the Flux Operator's ``flux-instance`` chart: the chart renders a
    FluxInstance from ``values.instance`` (controlplaneio-fluxcd/charts, flux-instance
    values.yaml), so ``values.instance.sync`` is that FluxInstance's ``spec.sync``."""
    spec = _spec(obj.data)
    chart_ref = spec.get("chartRef") if isinstance(spec.get("chartRef"), dict) else {}
    chart = spec.get("chart") if isinstance(spec.get("chart"), dict) else {}
    chart_spec = chart.get("spec") if isinstance(chart.get("spec"), dict) else {}
    named = chart_spec.get("chart") == "flux-instance"
    if chart_ref.get("kind") == "OCIRepository" and isinstance(chart_ref.get("name"), str):
        key = SourceKey("OCIRepository", str(chart_ref.get("namespace") or obj.id.namespace),
                        chart_ref["name"])
        url = _spec(sources[key].data).get("url") if key in sources else ""
        named = named or (isinstance(url, str) and url.rstrip("/").endswith("/flux-instance"))
    values = spec.get("values") if isinstance(spec.get("values"), dict) else {}
    instance = values.get("instance") if isinstance(values.get("instance"), dict) else {}
    if not named or not isinstance(instance.get("sync"), dict):
        return None
    ns = str(spec.get("targetNamespace") or obj.id.namespace or flux.PLATFORM_NAMESPACE)
    as_instance = KObject(ObjectId(OPERATOR_GROUP, "FluxInstance", ns, "flux"),
                          f"{OPERATOR_GROUP}/v1", {"spec": {"sync": instance["sync"]}},
                          obj.document)
    root = _flux_instance(as_instance, listing)
    if root is None:
        return None
    return SyncRoot(root.cluster, root.id, root.source, root.url, root.ref, "flux-instance",
                    obj, root.spec)


def _flux_instance(obj: KObject, listing: list[str]) -> SyncRoot | None:
    sync = _spec(obj.data).get("sync")
    if not isinstance(sync, dict):
        return None
    path = repo_path(sync.get("path"))
    if path is None or (path != "." and not any(f.startswith(path + "/") for f in listing)):
        return None  # synced from another repository (or a path that is not here: drift says)
    ns = obj.id.namespace or flux.PLATFORM_NAMESPACE
    kind = str(sync.get("kind") or "GitRepository")
    name = str(sync.get("name") or ns)
    spec = {"path": f"./{path}" if path != "." else "./", "prune": True,
            "sourceRef": {"kind": kind, "name": name}}
    url = normalise_url(sync.get("url")) if kind == "GitRepository" else ""
    return SyncRoot(path, ObjectId(flux.KUSTOMIZE_GROUP, "Kustomization", ns, name),
                    SourceKey(kind, ns, name), url, git_ref(sync.get("ref")), "flux-instance",
                    obj, spec)


def _declared(entry: DeclaredSync, sources: dict[SourceKey, KObject]) -> SyncRoot:
    """The root a ``sync:`` entry of the config file declares; its source's URL and ref
    come from the source object when the repository defines it."""
    src = sources.get(entry.source)
    src_spec = _spec(src.data) if src is not None else {}
    inner = repo_path(entry.path)
    spec = {"path": f"./{inner}" if inner != "." else "./", "prune": True,
            "sourceRef": {"kind": entry.source.kind, "name": entry.source.name}}
    url = normalise_url(src_spec.get("url")) if entry.source.kind == "GitRepository" else ""
    ignore = "\n".join(p for p in (_ignore_of(src_spec), entry.ignore) if p) or None
    where = Document(".flux-fleet.yaml", 0, entry.line, 1, None)
    oid = ObjectId(flux.KUSTOMIZE_GROUP, "Kustomization", entry.source.namespace,
                   entry.source.name)
    return SyncRoot("", oid, entry.source, url, git_ref(src_spec.get("ref")), "config", where,
                    spec, repo_path(entry.folder), ignore).named()


def _ignore_of(spec: dict[str, Any]) -> str | None:
    value = spec.get("ignore")
    return value if isinstance(value, str) else None


def _synthetic(path: str, how: str, where: Document, source: KObject | None = None) -> SyncRoot:
    """The root an installer creates when its Kustomization is not in the repository: named
    after the source ``flux bootstrap`` committed next to it, else ``flux-system``."""
    ns = source.id.namespace if source is not None else flux.PLATFORM_NAMESPACE
    name = source.id.name if source is not None else flux.PLATFORM_NAMESPACE
    kind = source.id.kind if source is not None else "GitRepository"
    src_spec = _spec(source.data) if source is not None else {}
    spec = {"path": f"./{path}" if path != "." else "./", "prune": True,
            "sourceRef": {"kind": kind, "name": name}}
    url = normalise_url(src_spec.get("url")) if kind == "GitRepository" else ""
    return SyncRoot(path, ObjectId(flux.KUSTOMIZE_GROUP, "Kustomization", ns, name),
                    SourceKey(kind, ns, name), url, git_ref(src_spec.get("ref")), how, where,
                    spec, spec_ignore=_ignore_of(src_spec))


_BOOTSTRAP_FILES = ("gotk-components.yaml", "gotk-sync.yaml")


def _bootstrap_folders(documents: Iterable[Document],
                       listing: list[str]) -> Iterable[tuple[str, Document]]:
    """Folders holding ``flux-system/`` with bootstrap's files (``flux bootstrap --path``),
    with the document findings about that cluster point at."""
    first: dict[str, Document] = {}
    for doc in documents:
        first.setdefault(doc.file, doc)
    seen: set[str] = set()
    for file in sorted(listing):
        folder, name = posixpath.split(file)
        if name not in _BOOTSTRAP_FILES or posixpath.basename(folder) != "flux-system":
            continue
        parent = posixpath.dirname(folder) or "."
        if parent in seen:
            continue
        seen.add(parent)
        kus = next((first[f] for f in (f"{folder}/kustomization.yaml",
                                       f"{folder}/kustomization.yml") if f in first), None)
        yield parent, kus or first.get(file) or Document(file, 0, 1, 1, None)
