"""Objects that passed the schema checks are not checked again by the next run, and nothing
it finds changes: the story of a platform engineer validating after every lifecycle change."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_build import SYNC, configmap, deployment, flux_ks
from tree_files import widget_crd, write_tree

from flux_fleet.validate import build_cache
from flux_fleet.validate.checks import schema
from flux_fleet.validate.run import validate
from flux_fleet.validate.schema_store import content_digest

pytestmark = pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")),
    reason="needs kustomize or kubectl on PATH",
)

def crd(required: str = "") -> str:
    return widget_crd(required + "properties:\n  size: {type: integer}\n"
                      "  colour: {type: string}")


WIDGET = ("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: apps\n"
          "spec:\n  size: 3\n")
BAD = "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  ports: not-a-list\n"


@pytest.fixture(autouse=True)
def own_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.delenv(build_cache.ENV, raising=False)


def fleet(root: Path, required: str = "") -> Path:
    write_tree(root, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks("apps", "./apps"),
        "crds/widgets.yaml": crd(required),
        "clusters/c1/crds.yaml": flux_ks("crds", "./crds"),
        "apps/web.yaml": deployment("web"),
        "apps/settings.yaml": configmap("settings"),
        "apps/widget.yaml": WIDGET,
        "apps/bad.yaml": BAD,
    })
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The objects the schema checks look at in full (a spy on the real check)."""
    seen: list[str] = []
    real = schema.check_object

    def spy(obj, store, *, strict):  # type: ignore[no-untyped-def]
        seen.append(str(obj.id))
        return real(obj, store, strict=strict)

    monkeypatch.setattr(schema, "check_object", spy)
    return seen


def findings(result) -> list[tuple[str, str, int, str]]:  # type: ignore[no-untyped-def]
    return sorted((f.rule, f.file, f.line, f.message) for f in result.findings)


def test_the_next_run_checks_only_what_did_not_pass(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root = fleet(tmp_path / "fleet")
    first = validate(root, cache=True)
    seen = checked(monkeypatch)
    second = validate(root, cache=True)

    assert findings(first) and findings(second) == findings(first)
    assert any("bad" in f[3] or f[1] == "apps/bad.yaml" for f in findings(second))
    assert seen and all("Service" in s for s in seen), seen  # only the one with a finding


def test_without_the_cache_every_object_is_checked(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = fleet(tmp_path / "fleet")
    validate(root, cache=True)
    seen = checked(monkeypatch)
    validate(root, cache=False)

    assert any("Deployment" in s for s in seen) and any("Widget" in s for s in seen)


def test_a_stricter_crd_makes_its_objects_checked_again(tmp_path: Path) -> None:
    root = fleet(tmp_path / "fleet")
    assert not [f for f in validate(root, cache=True).findings if "widget" in f.file]
    stricter = crd("required: [colour]\n")
    (root / "crds/widgets.yaml").write_text(stricter)

    found = [f for f in validate(root, cache=True).findings if f.file == "apps/widget.yaml"]

    assert found and "colour" in found[0].message


def test_strict_has_a_set_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flux_fleet.validate.config import Config

    root = fleet(tmp_path / "fleet")
    validate(root, cache=True)
    seen = checked(monkeypatch)
    validate(root, Config(strict=True), cache=True)

    assert any("Deployment" in s for s in seen)


def test_a_planted_or_edited_set_is_ignored(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone adds the failing object's digest to the stored set (in a pull request, in the
    repository's .git): its HMAC no longer matches and the whole set is ignored."""
    import yaml

    root = fleet(tmp_path / "fleet")
    first = validate(root, cache=True)
    bad = yaml.safe_load(BAD)
    digest = content_digest(("v1", "Service", repr(bad)))
    entries = [p for p in (root / ".git/flux-fleet-cache").rglob("*") if p.is_file()
               and b"\n" in p.read_bytes() and len(p.read_bytes().split(b"\n")[2]) == 32]
    assert entries, "no stored set of passed objects"
    for entry in entries:
        entry.write_bytes(entry.read_bytes() + b"\n" + digest.encode())
    seen = checked(monkeypatch)
    second = validate(root, cache=True)

    assert findings(second) == findings(first)
    assert any("Deployment" in s for s in seen)  # nothing was taken from the edited set
