"""The fast paths give what the full ones give: byte-identical trees for answer-only changes.

Each lifecycle change runs twice on copies of one committed 2 x 3 fleet: once as shipped (the
partial render of ``flux_fleet.scaffold.answer_change``) and once with that path turned off,
so Copier's
full three-render ``copier update`` computes it. The trees must match byte for byte, modes too.
"""

from __future__ import annotations

import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lifecycle_repos import template_repo

from flux_fleet.scaffold import answer_change, copier_run, git, lifecycle

CLUSTERS = [{"name": "c1", "context": "c1", "env": "staging"},
            {"name": "c2", "context": "c2", "env": "production"}]
TENANTS = [{"name": f"t{i}", "repo_url": f"https://github.com/example-org/t{i}"}
           for i in range(1, 4)]
NEWCOMER = lifecycle.TenantSpec(name="newcomer", repo_url="https://github.com/example-org/nc")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("equivalence")
    tpl = template_repo(base / "template")
    root = base / "fleet"
    copier_run.copy(str(tpl), root, {"clusters": CLUSTERS, "tenants": TENANTS}, "v1")
    git.init_repo(root, "fleet 2 x 3")
    return root


def tree(root: Path) -> dict[str, tuple[bytes, bool]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), bool(p.stat().st_mode & stat.S_IXUSR))
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def both_ways(fleet: Path, tmp: Path, change: Callable[[Path], Any],
              monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict, list[Any]]:
    fast_root, full_root = tmp / "fast", tmp / "full"
    for dest in (fast_root, full_root):
        shutil.copytree(fleet, dest, symlinks=True)
    taken: list[Any] = []
    real = answer_change.apply

    def recording(*args: Any, **kwargs: Any) -> Any:
        taken.append(real(*args, **kwargs))
        return taken[-1]

    with monkeypatch.context() as m:
        m.setattr(answer_change, "apply", recording)
        change(fast_root)
    with monkeypatch.context() as m:
        m.setattr(answer_change, "apply", lambda *a, **k: None)  # the full copier update
        change(full_root)
    return tree(fast_root), tree(full_root), taken


CHANGES: dict[str, Callable[[Path], Any]] = {
    "tenant add": lambda r: lifecycle.add_tenant(r, NEWCOMER, validate=False),
    "tenant remove": lambda r: lifecycle.remove_tenant(r, "t2", validate=False),
    "cluster add": lambda r: lifecycle.add_cluster(r, "c3", "c3", "staging", validate=False),
    "cluster remove": lambda r: lifecycle.remove_cluster(r, "c2", validate=False),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_answer_change_renders_what_copier_update_renders(
        name: str, fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, full, taken = both_ways(fleet, tmp_path, CHANGES[name], monkeypatch)

    assert taken and taken[0] is not None, "the partial render was not used"
    assert fast.keys() == full.keys()
    assert [p for p in fast if fast[p] != full[p]] == []
    assert fast != tree(fleet)


def test_an_edited_affected_file_falls_back_to_the_full_update(
        fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def edit_then_add(root: Path) -> None:
        sync = root / "clusters/c1/tenants.yaml"
        sync.write_text(sync.read_text() + "# reviewed\n")
        git.commit_all(root, "a comment")
        lifecycle.add_tenant(root, NEWCOMER, validate=False)

    fast, full, taken = both_ways(fleet, tmp_path, edit_then_add, monkeypatch)

    assert taken == [None]
    assert fast == full
    assert fast["clusters/c1/tenants.yaml"][0].endswith(b"# reviewed\n")


def test_only_the_changed_tenant_folders_are_rendered() -> None:
    folder = answer_change.TenantFolder(True, True, True)
    old = {"tenants": TENANTS, "clusters": CLUSTERS}
    new = {"tenants": [*TENANTS[:2], {**TENANTS[2], "role": "view"}], "clusters": CLUSTERS}

    assert answer_change.exclusions(folder, old, new) == ["/tenants/base/*/",
                                                          "!/tenants/base/t3/"]
    assert answer_change.exclusions(folder, old, {**new, "sops": True}) == []
    reads_lists = answer_change.TenantFolder(True, False, False)
    assert answer_change.exclusions(reads_lists, old, new) == []
    reads_paths = answer_change.TenantFolder(True, True, False)
    assert answer_change.exclusions(reads_paths, old, {**new, "clusters": CLUSTERS[:1]}) == []


def test_template_text_decides_what_a_tenant_folder_reads() -> None:
    d = answer_change.TENANT_DIR
    assert answer_change.tenant_folder({d + "a.yaml.jinja": "{{ tenant.name }}"}) == \
        answer_change.TenantFolder(True, True, True)
    assert answer_change.tenant_folder(  # words outside Jinja are not read
        {d + "a.yaml.jinja": "# tenants and clusters\n{{ tenant.role }}"}).entry_only
    assert not answer_change.tenant_folder(
        {d + "a.yaml.jinja": "{{ tenant.paths }}"}).entry_only
    assert not answer_change.tenant_folder(
        {d + "a.yaml.jinja": "{% for t in tenants %}{% endfor %}"}).self_contained
    assert not answer_change.tenant_folder(
        {d + "a.yaml.jinja": "{% import 'm.jinja' as m %}"}).self_contained
    assert not answer_change.tenant_folder({"template/platform/README.md.jinja": ""}).present


# --- plain builds: the files' documents are what kustomize builds from them -------------------

CM = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: apps\n"
      "data:\n  k: {value}\n")
SHAPES: dict[str, dict[str, str]] = {
    "multi-doc files, nested folders, .yml, empty documents": {
        "apps/a.yaml": CM.format(name="a1", value="'1'") + "---\n"
        + CM.format(name="a2", value="x"),
        "apps/b.yml": "# a comment only document\n---\n" + CM.format(name="b", value="'yes'"),
        "apps/nested/deeper/c.yaml": "---\n" + CM.format(name="c", value="'0755'") + "---\n",
        "apps/only-dashes.yaml": "---\n",
        "apps/nested/README.md": "not yaml, not listed\n",
    },
    "a subfolder with its own kustomization": {
        "apps/top.yaml": CM.format(name="top", value="1"),
        "apps/base/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: base-\n",
        "apps/base/cm.yaml": CM.format(name="inner", value="2"),
        "apps/base/nested/ignored.yaml": CM.format(name="not-listed", value="3"),
    },
}


def _kustomize(folder: Path, resources: list[str], root: Path) -> list[Any]:
    import json
    import os

    import yaml

    from flux_fleet.validate import kustomize

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(
        {"resources": [os.path.relpath(root / r, folder) for r in resources]}))
    out = kustomize.build(folder)
    return sorted(json.dumps(d, sort_keys=True) for d in yaml.safe_load_all(out) if d)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_plain_build_matches_kustomize(shape: str, tmp_path: Path) -> None:
    import json

    from conftest import kustomize_available
    from tree_files import write_tree

    from flux_fleet.validate import plain_build
    from flux_fleet.validate.checks import build

    if not kustomize_available():
        pytest.skip("kustomize not installed")
    root = write_tree(tmp_path / "repo", SHAPES[shape])
    listing = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.y*ml"))
    kdirs = frozenset(str(Path(p).parent) for p in listing if p.endswith("kustomization.yaml"))
    resources = build._generated_resources("apps", kdirs, listing)
    part = plain_build.split("apps", {}, resources, kdirs, lambda r: (root / r).read_bytes())

    assert part is not None
    mine = [json.dumps(d.data, sort_keys=True) for d in part.documents]
    if part.rest:
        mine += _kustomize(tmp_path / "rest", list(part.rest), root)
    assert sorted(mine) == _kustomize(tmp_path / "full", resources, root)


@pytest.mark.parametrize("files, spec", [
    ({"apps/values.yaml": "replicas: 2\n"}, {}),  # not an object: kustomize fails on it
    ({"apps/list.yaml": "apiVersion: v1\nkind: List\nitems: []\n"}, {}),
    ({"apps/anchors.yaml": CM.format(name="a", value="&v x") + "  j: *v\n"}, {}),
    ({"apps/cm.json": '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}'}, {}),
    ({"apps/cm.yaml": CM.format(name="a", value="x")}, {"targetNamespace": "other"}),
    ({"apps/cm.yaml": CM.format(name="a", value="yes")}, {}),  # YAML 1.1 bool, 1.2 string
    ({"apps/cm.yaml": CM.format(name="a", value="1_000")}, {}),
    ({"apps/cm.yaml": CM.format(name="a", value="x") + "  on: x\n"}, {}),
])
def test_plain_build_leaves_to_kustomize_what_it_would_change(
        files: dict[str, str], spec: dict[str, Any], tmp_path: Path) -> None:
    from tree_files import write_tree

    from flux_fleet.validate import plain_build

    root = write_tree(tmp_path, files)
    assert plain_build.split("apps", spec, sorted(files), frozenset(),
                             lambda r: (root / r).read_bytes()) is None


LISTING_SHAPES: dict[str, dict[str, str]] = {
    "a tenant base: files listed, one in a subfolder, one not listed": {
        "apps/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\nresources:\n  - rbac.yaml\n  - ./sync.yml\n  - more/c.yaml\n",
        "apps/rbac.yaml": CM.format(name="r1", value="'1'") + "---\n"
        + CM.format(name="r2", value="x"),
        "apps/sync.yml": "# comment\n---\n" + CM.format(name="s", value="${tenant_path}"),
        "apps/more/c.yaml": CM.format(name="c", value="why"),
        "apps/unlisted.yaml": CM.format(name="unlisted", value="z"),
    },
    "files and a listed folder with its own kustomization, a file from a sibling": {
        "apps/kustomization.yaml": "resources: [top.yaml, base, ../shared/cm.yaml]\n",
        "apps/top.yaml": CM.format(name="top", value="1"),
        "apps/base/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: base-\n",
        "apps/base/cm.yaml": CM.format(name="inner", value="2"),
        "shared/cm.yaml": CM.format(name="shared", value="3"),
    },
}


@pytest.mark.parametrize("shape", list(LISTING_SHAPES))
def test_a_kustomization_that_only_lists_files_builds_what_kustomize_builds(
        shape: str, tmp_path: Path) -> None:
    import json

    import yaml
    from conftest import kustomize_available
    from tree_files import write_tree

    from flux_fleet.validate import kustomize, plain_build

    if not kustomize_available():
        pytest.skip("kustomize not installed")
    root = write_tree(tmp_path / "repo", LISTING_SHAPES[shape])
    listing = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.y*ml"))
    kdirs = frozenset(str(Path(p).parent) for p in listing if p.endswith("kustomization.yaml"))
    own = yaml.safe_load((root / "apps/kustomization.yaml").read_text())
    resources = plain_build.listed("apps", own, kdirs, frozenset(listing))
    assert resources is not None
    part = plain_build.split("apps", {}, resources, kdirs, lambda r: (root / r).read_bytes())

    assert part is not None
    mine = [json.dumps(d.data, sort_keys=True) for d in part.documents]
    if part.rest:
        mine += _kustomize(tmp_path / "rest", list(part.rest), root)
    theirs = sorted(json.dumps(d, sort_keys=True)
                    for d in yaml.safe_load_all(kustomize.build(root / "apps")) if d)
    assert sorted(mine) == theirs


@pytest.mark.parametrize("kustomization", [
    "resources: [a.yaml]\nnamespace: other\n",  # a transformer
    "resources: [a.yaml]\ncommonLabels: {x: y}\n",
    "resources: [a.yaml]\nconfigMapGenerator: [{name: g, literals: [k=v]}]\n",
    "resources: [a.yaml, a.yaml]\n",  # kustomize refuses the second
    "resources: [missing.yaml]\n",  # kustomize's error, not ours
    "resources: [plain]\n",  # a folder without a kustomization file
    "resources: [notes.txt]\n",
    "resources: [https://example.com/x.yaml]\n",
    "resources:\n  - github.com/org/repo//apps?ref=main\n",
    "resources: [../../outside.yaml]\n",
    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [a.yaml]\n",
    "resources: a.yaml\n",
])
def test_a_kustomization_that_does_more_than_list_is_left_to_kustomize(
        kustomization: str) -> None:
    import yaml

    from flux_fleet.validate import plain_build

    files = frozenset({"apps/a.yaml", "apps/plain/b.yaml", "apps/notes.txt", "outside.yaml"})
    assert plain_build.listed("apps", yaml.safe_load(kustomization), {"apps"}, files) is None


def test_validate_finds_the_same_with_and_without_plain_builds(
        fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import kustomize_available

    from flux_fleet import validate
    from flux_fleet.validate import plain_build

    if not kustomize_available():
        pytest.skip("kustomize not installed")
    root = tmp_path / "fleet"
    shutil.copytree(fleet, root, symlinks=True)
    (root / "clusters/c1/extra.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        "  name: orphan\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./nowhere\n"
        "  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: no-such-repo\n")
    used: list[Any] = []
    real = plain_build.split

    def recording(*args: Any, **kwargs: Any) -> Any:
        used.append(real(*args, **kwargs))
        return used[-1]

    monkeypatch.setattr(plain_build, "split", recording)
    fast = validate.validate(root)
    monkeypatch.setattr(plain_build, "split", lambda *a, **k: None)
    full = validate.validate(root)

    def seen(result: Any) -> list[tuple[Any, ...]]:
        return sorted((f.rule, f.file, f.line, f.message) for f in result.findings)

    assert any(u is not None for u in used), "no build took the plain path"
    assert seen(fast) and seen(fast) == seen(full)
