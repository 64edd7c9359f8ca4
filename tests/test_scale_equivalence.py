"""The fast paths give what the full ones give: byte-identical trees for answer-only changes.

Each lifecycle change runs twice on copies of one committed 2 x 3 fleet: once as shipped (the
partial render of ``flux_fleet.answer_change``) and once with that path turned off, so Copier's
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

from flux_fleet import answer_change, copier_run, git, lifecycle

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
