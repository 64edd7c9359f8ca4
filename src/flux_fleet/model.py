"""Value types shared by the loader, the checks and the reporters.

Checks return findings (checked and wrong) and skips (could not check) — never raise for
problems in the user's files — so every problem in a run is reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

Path = tuple[str | int, ...]


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at one place: file:line:col RULE message (fix hint)."""

    file: str
    line: int
    column: int
    rule: str
    severity: Severity
    message: str
    hint: str = ""
    object: str = ""  # Kind/namespace/name, when the finding is about an object
    path: str = ""  # dotted path to the bad key, e.g. spec.sourceRef.name


@dataclass(frozen=True, order=True)
class Skipped:
    """Something that could not be checked offline, and why (never a silent pass)."""

    file: str
    line: int
    what: str  # e.g. "schema", "build", "sops", "remote-base", "substitution"
    reason: str
    object: str = ""


@dataclass
class Document:
    """One YAML document of one file, as plain Python data, with source positions.

    ``positions`` maps a path inside ``data`` (keys and list indexes) to the 1-based
    (line, column) where that value starts; ``locate`` falls back to the nearest ancestor.
    """

    file: str  # repository-relative, POSIX separators
    index: int  # 0-based position of the document in its file
    line: int
    column: int
    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict, repr=False)

    def locate(self, path: Path = ()) -> tuple[int, int]:
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (self.line, self.column))

    @property
    def is_object(self) -> bool:
        """True when the document looks like a Kubernetes object (has apiVersion and kind)."""
        d = self.data
        return isinstance(d, dict) and isinstance(d.get("kind"), str) and "apiVersion" in d


@dataclass(frozen=True, order=True)
class ObjectId:
    """Stable identity of a Kubernetes object; doubles as a graph node."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    @classmethod
    def of(cls, data: dict[str, Any], default_namespace: str = "") -> ObjectId:
        api = str(data.get("apiVersion", ""))
        group = api.rsplit("/", 1)[0] if "/" in api else ""
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        return cls(
            group=group,
            kind=str(data.get("kind", "")),
            namespace=str(meta.get("namespace") or default_namespace or ""),
            name=str(meta.get("name", "")),
        )


@dataclass(frozen=True, order=True)
class BuildKey:
    """One kustomize build of one Flux Kustomization: its identity, the file defining it and
    the cluster that applies it.

    Every cluster of a fleet has its own ``Kustomization/flux-system/flux-system`` (and
    ``.../tenants``...): the same ObjectId, built from a different path. The defining file
    and the cluster (its sync root's path; "" when the repository has no sync root) tell the
    builds apart: one base file applied by two clusters is two builds.
    """

    id: ObjectId
    file: str
    cluster: str = ""

    def __str__(self) -> str:
        return f"{self.id} ({self.file})"


@dataclass
class KObject:
    """A Kubernetes object as the cluster would receive it, with where it came from.

    ``document`` is the source document (for objects read straight from files) or the Flux
    Kustomization document that builds it (for objects that only exist in kustomize output);
    ``built_by`` names that Flux Kustomization, or is None for objects read from files.
    """

    id: ObjectId
    api_version: str
    data: dict[str, Any]
    document: Document
    built_by: ObjectId | None = None
    source_file: str = ""  # file the object came from inside the build, when kustomize says

    def locate(self, path: Path = ()) -> tuple[int, int]:
        if self.built_by is None:
            return self.document.locate(path)
        return self.document.locate(())


@dataclass
class Inventory:
    """Everything the graph and tenancy checks look at, gathered once per run.

    ``objects`` are the objects read from files (not patches, not kustomize configs, not
    SOPS-encrypted Secrets); ``built`` maps each build (a Flux Kustomization and the file that
    defines it) to the objects it would apply (kustomize output, after
    targetNamespace/patches/images).
    """

    root: str  # absolute path of the repository being validated
    documents: list[Document]
    objects: list[KObject]
    built: dict[BuildKey, list[KObject]] = field(default_factory=dict)
    patch_files: frozenset[str] = frozenset()  # files used only as kustomize patches
    kustomize_dirs: frozenset[str] = frozenset()  # dirs (relative) holding a kustomization.yaml
    tenant_repo: bool = False  # --tenant, or .copier-answers.yml says repo_kind: tenant
    answers: dict[str, Any] | None = None  # parsed .copier-answers.yml, when present
    builds: bool = True  # False under --no-build: checks run no kustomize of their own
    roots: tuple[str, ...] = ()  # the clusters' sync paths (reconcile.find_roots)

    def all_objects(self) -> list[KObject]:
        """File objects plus built objects (a built object may duplicate a file object)."""
        out = list(self.objects)
        for objs in self.built.values():
            out.extend(objs)
        return out
