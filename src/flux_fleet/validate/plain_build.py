"""Builds that kustomize would only concatenate: a plain folder's manifests, without kustomize.

kustomize-controller builds a ``spec.path`` that has no kustomization file by generating one
(``fluxcd/pkg/kustomize``, ``Generator.generateKustomization`` / ``scanManifests``): its
resources are every ``.yaml``/``.yml`` file below the folder, except that a subfolder with its
own kustomization file is listed as one directory resource and not descended into. With no
build options on the Flux Kustomization (``targetNamespace``, ``namePrefix``/``nameSuffix``,
``patches``, ``images``, ``components``) that generated kustomization has no transformer, so
the build's objects are the files' documents as written, plus what each such subfolder builds.
That file part is read here with the loader instead of a kustomize process, and kustomize only
builds the subfolders (none at all for a folder of plain files). The same holds for a folder
whose own kustomization file only lists resources (``listed``): a tenant base of plain files,
built once per tenant, is the commonest build of a multi-tenant fleet. postBuild substitution
does not stand in the way: kustomize-controller substitutes each object's own YAML
(``varsub``), not the text of the files or of kustomize's output.

The build grows with the number of objects in one folder: a cluster folder listing a Flux
Kustomization per tenant is the fleet's largest build, and kustomize itself is superlinear in
the objects of one build. Where kustomize could do anything but concatenate, the full build
runs instead: a document that is not a Kubernetes object (kustomize fails on it), a ``List``
(kustomize expands it), YAML anchors, merge keys or tags (kustomize's YAML library resolves
them its own way), scalars YAML 1.1 and 1.2 read differently (``yes``, ``on``, ``1_000``:
kustomize prints them as quoted strings), a ``%`` directive, two objects with one id (kustomize
refuses them). The caller also falls back when the subfolders' build fails, so every error is
kustomize's own.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from flux_fleet.model import Document
from flux_fleet.validate.loader import load_text

#: Flux Kustomization fields that put transformers into the generated kustomization.
BUILD_OPTIONS = ("targetNamespace", "namePrefix", "nameSuffix", "patches", "images",
                 "components")
_LISTING_FIELDS = frozenset({"apiVersion", "kind", "resources"})
_KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
_RISKY = re.compile(rb"<<\s*:|(?:^|[\s\[{,])[!&*][^\s\]},]", re.MULTILINE)
# Plain scalars that YAML 1.1 (PyYAML, our loader) and YAML 1.2 (kustomize's kyaml, which then
# prints them quoted) read differently: y/n/yes/no/on/off, 1_000, 1:30 (sexagesimal), 0b101.
_YAML11 = re.compile(
    rb"(?:^|[\s\[{,])(?:[yYnN]|[yY]es|YES|[nN]o|NO|[oO]n|ON|[oO]ff|OFF)\s*(?:$|[:,\]}#])"
    rb"|(?:^|[\s\[{,:])[-+]?(?:\d[\d_]*_[\d_]*(?:\.[\d_]*)?|\d+(?::[0-5]?\d)+(?:\.\d*)?|0b[01_]+)"
    rb"\s*(?:$|[,\]}#])", re.MULTILINE)


@dataclass(frozen=True)
class Split:
    """A build cut in two: documents read from files, and the resources kustomize builds."""

    documents: tuple[Document, ...]  # the files' documents, in the generated resource order
    rest: tuple[str, ...]  # subfolders with a kustomization file (kustomize builds these)
    text: str = ""  # the files as one YAML stream (what a parse of the documents came from)

    def joined(self, built: str) -> str:
        """kustomize's output for ``rest`` and the files, as one stream."""
        return "\n---\n".join(t for t in (built, self.text) if t.strip())


def by_file(documents: Iterable[Document], read: Iterable[str],
            problems: Iterable[str]) -> dict[str, list[Document]]:
    """The loader's documents of each file it read without a problem (``read``: the files it
    read, ``problems``: the files any of its findings is in), for ``split`` to take instead
    of parsing those files a second time."""
    bad = frozenset(problems)
    out: dict[str, list[Document]] = {name: [] for name in read if name not in bad}
    for doc in documents:
        found = out.get(doc.file)
        if found is not None:
            found.append(doc)
    return out


def split(path: str, spec: Mapping[str, Any], resources: Sequence[str],
          kdirs: Iterable[str], read: Callable[[str], bytes],
          parsed: Mapping[str, Sequence[Document]] | None = None) -> Split | None:
    """The plain part of the build of ``path`` (``resources``: the generated kustomization's,
    repository-relative), or None when kustomize must build all of it.

    ``parsed``: the loader's documents by file (``by_file``). The staged file is a hard link
    to (or a copy of) the file the loader read, so its documents are the loader's: they are
    taken from there, placed as a parse of the staged file would place them."""
    kdirs = frozenset(kdirs)
    if any(spec.get(k) for k in BUILD_OPTIONS):
        return None
    docs: list[Document] = []
    rest: list[str] = []
    texts: list[str] = []
    for res in resources:
        if res in kdirs:
            rest.append(res)
            continue
        if not res.endswith((".yaml", ".yml")):
            return None
        raw = read(res)
        found = _manifests(res, raw, None if parsed is None else parsed.get(res))
        if found is None:
            return None
        docs.extend(found)
        if found:
            texts.append(raw.decode("utf-8").removeprefix("\ufeff"))
    return Split(tuple(docs), tuple(rest), "\n---\n".join(texts))


def listed(path: str, kustomization: Any, kdirs: Iterable[str],
           files: Container[str]) -> list[str] | None:
    """The resources of ``path``'s kustomization file when all it does is list them
    (repository-relative), or None where kustomize could do more than concatenate.

    A kustomization with only ``resources`` (local YAML files, or folders with their own
    kustomization file, each once) has no transformer and no generator: its build is those
    files' objects and what the listed folders build, as a folder kustomize-controller
    generates a kustomization for. Anything else in it (a namespace, labels, patches,
    generators, replacements, sortOptions, a Component) leaves the build to kustomize.
    """
    if not isinstance(kustomization, dict) or set(kustomization) - _LISTING_FIELDS:
        return None
    if kustomization.get("kind", "Kustomization") != "Kustomization" or \
            kustomization.get("apiVersion", _KUSTOMIZE_API) != _KUSTOMIZE_API:
        return None
    resources = kustomization.get("resources") or []
    if not isinstance(resources, list):
        return None
    kdirs = frozenset(kdirs)
    out: list[str] = []
    for ref in resources:
        if not isinstance(ref, str) or not ref.strip() or "://" in ref or "?" in ref \
                or ref.startswith("git@"):
            return None
        joined = posixpath.normpath(posixpath.join(path, ref.strip()))
        if joined == ".." or joined.startswith("../") or posixpath.isabs(joined):
            return None
        if joined not in kdirs and not (joined in files and joined.endswith((".yaml", ".yml"))):
            return None  # missing, not YAML, a folder without a kustomization: kustomize's error
        out.append(joined)
    return out if len(set(out)) == len(out) else None


def _manifests(name: str, raw: bytes,
               loaded: Sequence[Document] | None = None) -> list[Document] | None:
    if raw.lstrip().startswith(b"%") or _RISKY.search(raw) or _YAML11.search(raw):
        return None
    file = f"<kustomize build {name}>"
    if loaded is not None:  # what load_text(raw, file) gives, without parsing it again
        docs, problems = [replace(d, file=file) for d in loaded], []
    else:
        docs, problems = load_text(raw, file)
    if problems or not all(_is_object(d.data) for d in docs):
        return None
    return docs


def _is_object(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    meta = data.get("metadata")
    kind = data.get("kind")
    return (isinstance(data.get("apiVersion"), str) and bool(data["apiVersion"])
            and isinstance(kind, str) and bool(kind) and not kind.endswith("List")
            and isinstance(meta, dict) and isinstance(meta.get("name"), str)
            and bool(meta["name"]))


def unique(documents: Iterable[Document]) -> bool:
    """No two objects with one kustomize id (group, kind, namespace, name; an empty namespace
    counts as ``default``, as kustomize's ``resid`` compares them)."""
    seen: set[tuple[str, str, str, str]] = set()
    for doc in documents:
        data = doc.data
        if not isinstance(data, dict):
            continue
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        group = str(data.get("apiVersion") or "").rpartition("/")[0]
        key = (group, str(data.get("kind") or ""), str(meta.get("namespace") or "default"),
               str(meta.get("name") or ""))
        if key in seen:
            return False
        seen.add(key)
    return True
