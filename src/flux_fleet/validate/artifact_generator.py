"""ExternalArtifacts that Flux's source-watcher composes from this repository.

An ``ArtifactGenerator`` (``source.extensions.fluxcd.io``, Flux 2.7+) reads sources by alias
(``spec.sources[]: {alias, kind, name, namespace}``) and makes one ``ExternalArtifact`` per
``spec.artifacts[]`` entry, in its own namespace, by copy operations
``{from: "@<alias>/<path>", to: "@artifact/<path>"}``. A Flux Kustomization whose ``sourceRef``
is such an ExternalArtifact builds ``spec.path`` inside it. When a copy takes a folder of this
repository's source (``@repo/apps/x/`` or ``@repo/apps/x/**``) to a folder of the artifact,
the Kustomization's path maps back to a folder of this repository, and its tree can be
followed like any other. Copies of single files or with other globs are not mapped (the
Kustomization is then reported as an external source, never guessed at).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flux_fleet.model import KObject
from flux_fleet.validate.reconcile import SourceKey, repo_path

GROUP = "source.extensions.fluxcd.io"


@dataclass(frozen=True)
class FolderCopy:
    """One folder copy: ``source``'s ``src`` folder becomes the artifact's ``dst`` folder."""

    source: SourceKey
    src: str  # a folder inside the source's artifact ("." = its root)
    dst: str  # a folder inside the ExternalArtifact


def _folder(ref: str, prefix: str) -> str | None:
    """The folder a copy operand names (``@alias/a/b/``, ``@alias/a/b/**``), or None."""
    if not ref.startswith(prefix):
        return None
    rest = ref[len(prefix):]
    if rest.endswith("/**"):
        rest = rest[:-3]
    elif rest.endswith("/") or rest == "":
        rest = rest.rstrip("/")
    else:
        return None
    if any(c in rest for c in "*?[{"):
        return None
    return repo_path(rest)


def external_artifacts(objects: Iterable[KObject]) -> dict[tuple[str, str], list[FolderCopy]]:
    """ExternalArtifact (namespace, name) -> its folder copies, for every ArtifactGenerator."""
    out: dict[tuple[str, str], list[FolderCopy]] = {}
    for obj in objects:
        if (obj.id.group, obj.id.kind) != (GROUP, "ArtifactGenerator"):
            continue
        spec: Any = obj.data.get("spec") if isinstance(obj.data, dict) else None
        if not isinstance(spec, dict):
            continue
        ns = obj.id.namespace
        aliases: dict[str, SourceKey] = {}
        for src in spec.get("sources") or []:
            if isinstance(src, dict) and all(isinstance(src.get(k), str)
                                             for k in ("alias", "kind", "name")):
                aliases[src["alias"]] = SourceKey(src["kind"], str(src.get("namespace") or ns),
                                                  src["name"])
        for art in spec.get("artifacts") or []:
            if not isinstance(art, dict) or not isinstance(art.get("name"), str):
                continue
            copies = out.setdefault((ns, art["name"]), [])
            for op in art.get("copy") or []:
                if not isinstance(op, dict):
                    continue
                frm, to = str(op.get("from") or ""), str(op.get("to") or "")
                alias = frm[1:].split("/", 1)[0] if frm.startswith("@") else ""
                if alias not in aliases:
                    continue
                src_dir = _folder(frm, f"@{alias}/")
                dst_dir = _folder(to, "@artifact/")
                if src_dir is not None and dst_dir is not None:
                    copies.append(FolderCopy(aliases[alias], src_dir, dst_dir))
    return out


def source_path(copies: list[FolderCopy], path: Any) -> tuple[SourceKey, str] | None:
    """Where ``spec.path`` inside the ExternalArtifact comes from: (source, folder in it)."""
    inner = repo_path(path)
    for copy in sorted(copies, key=lambda c: -len(c.dst)):
        if copy.dst == "." or inner == copy.dst or inner.startswith(copy.dst + "/"):
            rest = inner if copy.dst == "." else inner[len(copy.dst):].lstrip("/")
            joined = rest if copy.src == "." else (f"{copy.src}/{rest}" if rest else copy.src)
            return copy.source, repo_path(joined)
    return None
