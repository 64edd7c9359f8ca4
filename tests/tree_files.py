"""Write a small repository from a {relative path: content} mapping (shared by the tests)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path


def write_tree(root: Path, files: Mapping[str, str | bytes], *, dedent: bool = False) -> Path:
    """Create each file (and its folders) under ``root``; ``dedent`` strips the common indent
    and leading newline of text written inline in a test."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n") if dedent else content)
    return root


def gotk_sync(source_spec_extra: str = "", path: str = "./clusters/dev") -> str:
    """A committed ``gotk-sync.yaml`` as ``flux bootstrap`` writes it (GitRepository and
    Kustomization ``flux-system``) for the tests' fleet at github.com/example/fleet;
    ``source_spec_extra`` adds to the GitRepository's spec (e.g. ``", ignore: '/x/'"``)."""
    return (
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n"
        "metadata: {name: flux-system, namespace: flux-system}\n"
        "spec: {interval: 1h, url: https://github.com/example/fleet, ref: {branch: main}"
        f"{source_spec_extra}}}\n"
        "---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: flux-system, namespace: flux-system}\n"
        f"spec: {{interval: 1h, path: {path}, prune: true,\n"
        "       sourceRef: {kind: GitRepository, name: flux-system}}\n"
    )


def patching_parent(source_kind: str = "GitRepository", path: str = "./apps") -> str:
    """A Flux Kustomization ``apps`` whose ``spec.patches`` give every child Kustomization it
    applies ``interval`` and ``prune`` (the idiom real fleets use, e.g. xunholy, billimek)."""
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: apps, namespace: flux-system}\nspec:\n  interval: 1h\n"
        f"  path: {path}\n  prune: true\n"
        f"  sourceRef: {{kind: {source_kind}, name: flux-system}}\n"
        "  patches:\n    - target: {kind: Kustomization}\n      patch: |-\n"
        "        apiVersion: kustomize.toolkit.fluxcd.io/v1\n        kind: Kustomization\n"
        "        metadata: {name: _}\n        spec: {interval: 30m, prune: true}\n"
    )


def widget_crd(spec_schema: str) -> str:
    """A CRD the repository ships: kind ``Widget`` of ``example.com/v1``, namespaced, whose
    ``spec`` schema is ``spec_schema`` (YAML lines under ``spec:``, indented by 2)."""
    lines = "".join(f"              {line}\n" for line in spec_schema.splitlines())
    return (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: widgets.example.com}\nspec:\n  group: example.com\n"
        "  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions:\n"
        "    - name: v1\n      served: true\n      storage: true\n      schema:\n"
        "        openAPIV3Schema:\n          type: object\n          properties:\n"
        "            spec:\n              type: object\n" + lines
    )
