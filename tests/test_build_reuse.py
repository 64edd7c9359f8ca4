"""Builds reuse what the loader already parsed: the same documents, findings and skips."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from tree_files import gotk_sync, write_tree

from flux_fleet.validate import loader, plain_build, staging

needs_kustomize = pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")),
    reason="needs kustomize or kubectl on PATH")

CM = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: apps\n"
      "data:\n  k: {value}\n")
DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: apps
spec:
  replicas: "two"
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: {name}
          image: nginx:latest
"""
FLUX = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  url: ssh://git@github.com/example/fleet
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  path: ./apps
"""
TREE = {
    "flux/sync.yaml": FLUX,
    "apps/a.yaml": "# comment\n---\n" + CM.format(name="a1", value="'1'") + "---\n"
    + DEPLOY.format(name="web"),
    "apps/nested/b.yml": "\ufeff" + CM.format(name="b", value="x") + "---\n",
    "apps/empty.yaml": "",
    "apps/base/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: base-\n",
    "apps/base/cm.yaml": DEPLOY.format(name="inner"),
}


def _split(root: Path, parsed: Any) -> plain_build.Split | None:
    from flux_fleet.validate.checks import build

    listing = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.y*ml"))
    kdirs = frozenset(str(Path(p).parent) for p in listing if p.endswith("kustomization.yaml"))
    return plain_build.split("apps", {}, build._generated_resources("apps", kdirs, listing),
                             kdirs, lambda r: (root / r).read_bytes(), parsed)


def _loaded(root: Path) -> dict[str, list[Any]]:
    found = loader.load_tree(root)
    return plain_build.by_file(found.documents, found.paths, (f.file for f in found.findings))


def test_split_from_the_loaders_documents_is_the_split_it_parses(tmp_path: Path) -> None:
    root = write_tree(tmp_path, TREE)
    parsed = _loaded(root)
    again = _split(root, None)
    reused = _split(root, parsed)

    assert again is not None and reused is not None
    assert len(reused.documents) == 3
    assert reused == again  # files, indexes, lines, columns, data, positions, text
    assert [d.positions for d in reused.documents] == [d.positions for d in again.documents]
    # the data is the loader's own (not parsed again)
    assert {id(d.data) for d in reused.documents} <= {id(d.data) for ds in parsed.values()
                                                      for d in ds}


def test_a_file_the_loader_found_a_problem_in_is_parsed_again(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {**TREE, "apps/dup.yaml": CM.format(name="d", value="1")
                                 + "  k: 2\n"})  # a duplicate key: a loader finding
    parsed = _loaded(root)

    assert "apps/dup.yaml" not in parsed and "apps/a.yaml" in parsed
    assert _split(root, parsed) == _split(root, None)


@needs_kustomize
def test_validate_finds_and_skips_the_same_with_and_without_the_loaders_documents(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flux_fleet import validate
    from flux_fleet.validate.checks import build

    root = write_tree(tmp_path, {**TREE, "apps/secret.yaml": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: apps\n"
        "sops:\n  version: 3.8.1\n")})
    given: list[Any] = []
    real = build.build_all

    def recording(*args: Any, **kwargs: Any) -> Any:
        given.append(kwargs.get("parsed"))
        return real(*args, **kwargs)

    monkeypatch.setattr(build, "build_all", recording)
    reused = validate.validate(root)
    monkeypatch.setattr(build, "build_all",
                        lambda *a, **k: real(*a, **{**k, "parsed": None}))
    again = validate.validate(root)

    def seen(result: Any) -> tuple[list[Any], list[Any]]:
        return (sorted((f.rule, f.file, f.line, f.column, f.message) for f in result.findings),
                sorted((s.file, s.line, s.what, s.reason, s.object) for s in result.skipped))

    assert given and given[0] and "apps/a.yaml" in given[0]
    assert seen(reused)[0], "the tree should have findings in built objects"
    assert seen(reused) == seen(again)
    assert any(s[2] == "sops" for s in seen(reused)[1]), "a skip from the build is compared"


# --- staging: each file's artifact answer asked once; the scratch tree removed off-path -----

SYNC_ROOT = gotk_sync() + """\
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {interval: 1h, path: ./apps, prune: true,
       sourceRef: {kind: GitRepository, name: flux-system}}
"""
IGNORED = {
    "clusters/dev/flux-system/gotk-sync.yaml": SYNC_ROOT,
    ".sourceignore": "/apps/drafts/\n*.txt\n",
    "apps/kustomization.yaml": "resources: [cm.yaml, deploy.yaml, drafts/x.yaml]\n",
    "apps/cm.yaml": CM.format(name="cm", value="x"),
    "apps/deploy.yaml": DEPLOY.format(name="web"),
    "apps/drafts/x.yaml": CM.format(name="x", value="y"),  # not in the artifact: build fails
    "apps/notes.txt": "not yaml, not in the artifact\n",
    "apps/README.md": "not yaml, in the artifact\n",
}


def test_answered_gives_what_asking_gives_and_asks_only_for_unlisted_files() -> None:
    def ask(rel: str) -> bool:
        asked.append(rel)
        return rel.endswith(".txt") or rel.startswith("apps/drafts/")

    asked: list[str] = []
    listed = ["apps/cm.yaml", "apps/drafts/x.yaml"]
    omit = staging.answered(listed, ["apps/drafts/x.yaml"], ask)
    names = [*listed, "apps/notes.txt", "apps/README.md"]
    got = [omit(n) for n in names]
    assert asked == ["apps/notes.txt", "apps/README.md"]
    asked.clear()
    assert got == [ask(n) for n in names]


@needs_kustomize
def test_validate_finds_and_skips_the_same_with_the_cheaper_stage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from flux_fleet import validate
    from flux_fleet.validate.checks import build

    root = write_tree(tmp_path / "repo", IGNORED)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    staged: list[set[str]] = []
    real_stage = staging.stage

    def recording(*args: Any, **kwargs: Any) -> Any:
        out = real_stage(*args, **kwargs)
        staged.append({p.relative_to(out.root).as_posix() for p in out.root.rglob("*")
                       if p.is_file()})
        return out

    monkeypatch.setattr(staging, "stage", recording)
    cheaper = validate.validate(root)
    assert not list(scratch.iterdir()), "the scratch tree is gone when validate returns"

    monkeypatch.setattr(staging, "answered", lambda listed, omitted, ask: ask)
    monkeypatch.setattr(build.staging, "discard", shutil.rmtree)  # removed in line, as before
    full = validate.validate(root)

    def seen(result: Any) -> tuple[list[Any], list[Any]]:
        return (sorted((f.rule, f.file, f.line, f.column, f.message) for f in result.findings),
                sorted((s.file, s.line, s.what, s.reason, s.object) for s in result.skipped))

    assert staged[0] == staged[1]
    assert "apps/README.md" in staged[0] and "apps/notes.txt" not in staged[0]
    assert "apps/drafts/x.yaml" not in staged[0]
    assert any(f[0] == "FF301" for f in seen(cheaper)[0]), "the build of apps should fail"
    assert seen(cheaper) == seen(full)
