"""The build cache changes how long validate takes, never what it finds (real kustomize, git)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_build import SYNC, configmap, deployment, flux_ks
from tree_files import write_tree

import flux_fleet
from flux_fleet.validate import build_cache, kustomize
from flux_fleet.validate.checks.build import build_all, classify, file_objects
from flux_fleet.validate.loader import load_tree
from flux_fleet.validate.run import validate

pytestmark = pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")),
    reason="needs kustomize or kubectl on PATH",
)

SUBST = "  postBuild:\n    substitute:\n      region: eu\n"


def fleet(root: Path) -> Path:
    """Two clusters; a kustomize folder with a patch file, a plain folder, a generator that
    reads a non-YAML file, and planted defects (a failing build, a missing path, an undefined
    variable, an object without its required field)."""
    files: dict[str, str] = {}
    for c in ("c1", "c2"):
        files[f"clusters/{c}/flux-system/gotk-sync.yaml"] = SYNC
        files[f"clusters/{c}/apps.yaml"] = "---\n".join([
            flux_ks("patched", "./apps/patched", SUBST),
            flux_ks("plain", "./apps/plain"),
            flux_ks("generated", "./apps/generated", f"  targetNamespace: {c}\n"),
            flux_ks("broken", "./apps/broken"),
            flux_ks("missing", "./apps/nowhere"),
            flux_ks("unknown", "./apps/unknown", SUBST),
        ])
    files.update({
        "apps/patched/kustomization.yaml": (
            "resources: [web.yaml]\npatches:\n  - path: patch.yaml\n"),
        "apps/patched/web.yaml": deployment("web"),
        "apps/patched/patch.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
            "  labels: {region: '${region}'}\n"),
        "apps/plain/one.yaml": configmap("one"),
        "apps/plain/two.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: two\n",
        "apps/generated/kustomization.yaml": (
            "configMapGenerator:\n  - name: settings\n    envs: [app.properties]\n"),
        "apps/generated/app.properties": "colour=blue\n",
        "apps/broken/kustomization.yaml": "resources: [absent.yaml]\n",
        "apps/unknown/cm.yaml": configmap("unknown", "  a: ${nobody_set_this}\n"),
    })
    write_tree(root, files)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return root


@pytest.fixture(autouse=True)
def own_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.delenv(build_cache.ENV, raising=False)


def outcome(root: Path, **kwargs):
    result = validate(root, **kwargs)
    return result.findings, result.skipped, result.stats


def built(root: Path):
    """build_all with the cache, for the set of builds it took from it."""
    loaded = load_tree(root)
    cls = classify(loaded.documents)
    objects = file_objects(loaded.documents, cls)
    cache = build_cache.BuildCache.open(root, kustomize.command())
    assert cache is not None
    return build_all(root, loaded.documents, objects, classification=cls, cache=cache)


def test_findings_are_identical_with_and_without_the_cache(tmp_path):
    root = fleet(tmp_path / "fleet")
    plain_findings, plain_skips, plain_stats = outcome(root)
    rules = {f.rule for f in plain_findings}
    assert {"FF301", "FF302", "FF303"} <= rules  # the planted defects are found
    first = outcome(root, cache=True)
    second = outcome(root, cache=True)
    assert first[2].cached == 0 and (root / ".git" / "flux-fleet-cache").is_dir()
    assert second[2].cached > 0 and second[2].processes < plain_stats.processes
    for findings, skips, _ in (first, second):
        assert findings == plain_findings
        assert skips == plain_skips


def test_a_changed_file_invalidates_exactly_the_builds_that_read_it(tmp_path):
    root = fleet(tmp_path / "fleet")
    everything = built(root)
    assert everything.cached == set()
    again = built(root)
    keys = again.cached
    assert {path for path, _ in keys} >= {"apps/patched", "apps/generated"}
    assert "apps/broken" not in {path for path, _ in keys}  # failures are not kept
    # a generator's source is no YAML file, yet its build reads it
    (root / "apps/generated/app.properties").write_text("colour=green\n")
    after = built(root)
    assert {path for path, _ in keys - after.cached} == {"apps/generated"}
    assert len(keys - after.cached) == 2  # one per cluster: each sets its targetNamespace
    (root / "apps/patched/patch.yaml").write_text(
        (root / "apps/patched/patch.yaml").read_text().replace("region", "zone"))
    last = built(root)
    assert {path for path, _ in keys - last.cached} == {"apps/patched"}
    findings, skips, stats = outcome(root, cache=True)
    assert (findings, skips) == outcome(root)[:2] and stats.cached > 0


def test_a_planted_or_damaged_cache_is_ignored(tmp_path, monkeypatch):
    root = fleet(tmp_path / "fleet")
    clean = outcome(root)[:2]
    outcome(root, cache=True)
    entries = [p for p in (root / ".git/flux-fleet-cache/builds").rglob("*") if p.is_file()]
    assert entries
    # forged: an output of someone else's making under the right key (no secret, no HMAC)
    for i, path in enumerate(entries):
        data = path.read_bytes()
        if i % 2:
            path.write_bytes(data + b"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
        else:
            path.write_bytes(data[: len(data) // 2])
    findings, skips, stats = outcome(root, cache=True)
    assert stats.cached == 0 and (findings, skips) == clean
    # another version of flux-fleet never reads these entries
    assert outcome(root, cache=True)[2].cached > 0
    monkeypatch.setattr(flux_fleet, "__version__", "99.0.0", raising=False)
    assert outcome(root, cache=True)[2].cached == 0
    # a cache folder that is a symlink is not used (nor written through)
    shutil.rmtree(root / ".git/flux-fleet-cache")
    (tmp_path / "elsewhere").mkdir()
    (root / ".git/flux-fleet-cache").symlink_to(tmp_path / "elsewhere")
    assert build_cache.BuildCache.open(root, kustomize.command()) is None
    assert outcome(root, cache=True)[:2] == clean
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_environment_turns_it_off(tmp_path, monkeypatch):
    root = fleet(tmp_path / "fleet")
    outcome(root, cache=True)
    monkeypatch.setenv(build_cache.ENV, "0")
    assert outcome(root, cache=True)[2].cached == 0
    monkeypatch.setenv(build_cache.ENV, "1")
    assert outcome(root)[2].cached > 0


def test_the_controllers_build_of_an_unchanged_flux_system_comes_from_the_cache(
        tmp_path, monkeypatch):
    """The lockdown is read from the controller Deployments as kustomize builds them; a second
    run (a new process: the in-process memo is emptied) finds that build in the cache and
    starts no kustomize at all, with the same findings."""
    from flux_fleet.scaffold import copier_run, git
    from flux_fleet.validate.checks import lockdown_built

    root = tmp_path / "fleet"
    copier_run.copy(str(Path(flux_fleet.__file__).resolve().parents[2]), root,
                    {"clusters": [{"name": "c1", "context": "c1", "env": "staging"}],
                     "tenants": [{"name": "t1", "repo_url": "https://github.com/example-org/t1"}]})
    git.init_repo(root, "fleet")
    runs: list[Path] = []
    real = kustomize.build

    def spy(directory, **kwargs):
        runs.append(directory)
        return real(directory, **kwargs)

    monkeypatch.setattr(kustomize, "build", spy)
    monkeypatch.setattr(lockdown_built, "_MEMO", {})
    first = validate(root, cache=True)
    assert any("lockdown" in str(d) for d in runs), "the controllers were never built"
    runs.clear()
    monkeypatch.setattr(lockdown_built, "_MEMO", {})
    second = validate(root, cache=True)

    assert runs == []
    assert (second.findings, second.skipped) == (first.findings, first.skipped)
