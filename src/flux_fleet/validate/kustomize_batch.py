"""Many small kustomize builds in few kustomize processes.

A fleet with a Flux Kustomization per tenant has hundreds of small builds; each ``kubectl
kustomize`` process costs about 50 ms before it reads a file, more than the build itself. A
batch is one kustomization listing several build directories as resources: each keeps its own
transformers, and an annotation naming its folder (``metadata.annotations`` only) tells whose
object is whose in the combined output. The caller batches only builds that rename nothing
(kustomize's name-reference pass runs again over a batch) and whose objects cannot collide; if
a batch still fails, it is halved until each failing build runs on its own, so every
error is its own build's and one broken folder costs a few extra processes, not a batch's worth.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import yaml

from flux_fleet.validate import kustomize

MARK = "flux-fleet.dev/build"
_MARK_FILE = "flux-fleet-mark.yaml"
_MARK_LINE = re.compile(rf"^    {re.escape(MARK)}: ['\"]?([^'\"\s]+)['\"]?[ \t]*$", re.MULTILINE)
_DOCUMENT = re.compile(r"^---[ \t]*\n", re.MULTILINE)

K = TypeVar("K", bound=Hashable)
Output = tuple[str | None, str]  # (kustomize's YAML, or None and its first error line)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(data: Any) -> str:
    """YAML for the kustomization files a run writes (hundreds per fleet), with libyaml's
    emitter when PyYAML has it: the same safe representation, several times faster."""
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False)


def mark(workdir: Path) -> str:
    """Write the transformer that annotates every object a build emits with its folder's name;
    returns the file name for the wrapper's ``transformers``."""
    (workdir / _MARK_FILE).write_text(dump({
        "apiVersion": "builtin",
        "kind": "AnnotationsTransformer",
        "metadata": {"name": "flux-fleet-mark"},
        "annotations": {MARK: workdir.name},
        "fieldSpecs": [{"path": "metadata/annotations", "create": True}],
    }), encoding="utf-8")
    return _MARK_FILE


def unmark(data: Any) -> None:
    """Remove the batch annotation from a built object (and an annotations map it emptied)."""
    meta = data.get("metadata") if isinstance(data, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(annotations, dict) and MARK in annotations:
        del annotations[MARK]
        if not annotations:
            del meta["annotations"]


def split(text: str, labels: Sequence[str]) -> dict[str, str] | None:
    """A batch's output, per label; None when a document carries no known label."""
    parts: dict[str, list[str]] = {label: [] for label in labels}
    for chunk in _DOCUMENT.split(text):
        if not chunk.strip():
            continue
        found = _MARK_LINE.search(chunk)
        if found is None or found.group(1) not in parts:
            return None
        parts[found.group(1)].append(chunk)
    return {label: "---\n".join(chunks) for label, chunks in parts.items()}


def _one(workdir: Path) -> Output:
    try:
        return kustomize.build(workdir), ""
    except kustomize.KustomizeError as err:
        return None, err.first_error


def build_groups(groups: Sequence[Sequence[K]], workdirs: dict[K, Path], scratch: Path,
                 jobs: int, on_output: Callable[[K, str], None] | None = None,
                 ) -> tuple[dict[K, Output], int]:
    """Build every key's workdir; keys grouped together share a process when they can.

    Members of a group of several must list ``mark(workdir)`` among their transformers.
    Returns each key's output and the number of kustomize processes run. ``on_output`` is
    called with each successful output as soon as its process ends, on the worker thread: the
    caller parses it there while other kustomize processes keep the cores busy.
    """
    def label(key: K) -> str:
        return workdirs[key].name

    def run(name: str, group: Sequence[K]) -> tuple[dict[K, Output], int]:
        done, count = _run(name, group)
        if on_output is not None:
            for key, (text, _) in done.items():
                if text is not None:
                    on_output(key, text)
        return done, count

    def _run(name: str, group: Sequence[K]) -> tuple[dict[K, Output], int]:
        if len(group) == 1:
            return {group[0]: _one(workdirs[group[0]])}, 1
        batch = scratch / name
        batch.mkdir()
        (batch / "kustomization.yaml").write_text(dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(workdirs[k], batch) for k in group],
        }), encoding="utf-8")
        text, _ = _one(batch)
        parts = split(text, [label(k) for k in group]) if text is not None else None
        if parts is not None:
            return {k: (parts[label(k)], "") for k in group}, 1
        # a member fails (or two collide): halve until each failure is a build of its own
        half = len(group) // 2
        first, n1 = _run(name + "a", group[:half])
        second, n2 = _run(name + "b", group[half:])
        return {**first, **second}, 1 + n1 + n2

    outputs: dict[K, Output] = {}
    processes = 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for done, count in pool.map(lambda pair: run(f"batch{pair[0]}", pair[1]),
                                    enumerate(groups)):
            outputs.update(done)
            processes += count
    return outputs, processes
