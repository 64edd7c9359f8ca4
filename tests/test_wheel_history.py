"""The wheel carries the template's release history (issue 12, "Offline and air-gapped updates").

A copy of this checkout is tagged v1.0.0, changed, tagged v1.1.0, and built into a wheel with the
real build backend (hatchling + build_hooks/template_history.py), offline. The fast test checks
the bundle inside the wheel and that the cache learns both releases from it; the full one
(``FLUX_FLEET_WHEEL_TEST=1``) runs the unpacked wheel, not the checkout, with no network: `new`
at the older release, then every day-2 command across the two releases.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from lifecycle_repos import INFRA, NEW_FILE, REPO_ROOT

from flux_fleet.scaffold import git, template_source

FULL = os.environ.get("FLUX_FLEET_WHEEL_TEST") == "1"
SOURCES = ("src", "build_hooks", "copier.yml", "template", "schemas", "README.md",
           "pyproject.toml")
BUNDLE = "flux_fleet/_template/history.bundle"


def project_at_two_releases(dest: Path) -> Path:
    """The checkout's package sources as a repo with tags v1.0.0 and v1.1.0 (template changed)."""
    dest.mkdir(parents=True)
    for name in SOURCES:
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(src, dest / name)
    git.init_repo(dest, "release 1.0.0")
    git.run(["tag", "v1.0.0"], dest)
    (dest / NEW_FILE).write_text("# Upgrading\n\nRead the release notes before updating.\n")
    infra = dest / INFRA
    infra.write_text(infra.read_text().replace("retryInterval: 1m", "retryInterval: 2m"))
    git.commit_all(dest, "release 1.1.0")
    git.run(["tag", "v1.1.0"], dest)
    return dest


def build_wheel(project: Path, out: Path) -> tuple[Path, str]:
    """The real build backend (hatchling, the hook included), offline; the wheel and its log."""
    pytest.importorskip("hatchling", reason="pip install -e '.[test]' (the test extra has it)")
    pytest.importorskip("hatch_vcs", reason="pip install -e '.[test]' (the test extra has it)")
    out.mkdir()
    env = {**os.environ, "PIP_NO_INDEX": "1", "GIT_ALLOW_PROTOCOL": "file"}
    built = subprocess.run(
        [sys.executable, "-c", "import sys; from hatchling.build import build_wheel; "
         "print(build_wheel(sys.argv[1]))", str(out)],
        cwd=project, env=env, capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    return out / built.stdout.strip().splitlines()[-1], built.stdout + built.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("wheel")
    project = project_at_two_releases(base / "project")
    path, log = build_wheel(project, base / "dist")
    site = base / "site"
    with zipfile.ZipFile(path) as whl:
        whl.extractall(site)
    return {"base": base, "project": project, "path": path, "site": site, "log": log}


def test_a_tagless_ci_clone_builds_a_wheel_without_history_and_says_so(
        wheel: dict, tmp_path: Path) -> None:
    clone = tmp_path / "ci-clone"
    git.run(["clone", "--quiet", "--no-tags", wheel["project"].as_uri(), str(clone)], tmp_path)
    path, log = build_wheel(clone, tmp_path / "dist")
    assert "no vX.Y.Z tags in this clone" in log, log
    with zipfile.ZipFile(path) as whl:
        names = whl.namelist()
    assert BUNDLE not in names and "flux_fleet/_template/copier.yml" in names


def test_the_wheel_bundles_both_releases_and_the_cache_learns_them(
        wheel: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert wheel["path"].name.startswith("flux_fleet-1.1.0-"), wheel["path"].name
    with zipfile.ZipFile(wheel["path"]) as whl:
        assert BUNDLE in whl.namelist()
        assert whl.getinfo(BUNDLE).file_size < 2_000_000, "the history stays small"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bundled = wheel["site"] / "flux_fleet" / "_template"
    published = template_source.publish(bundled, "1.1.0")
    assert published.tag == "v1.1.0", "the wheel's own template is its bundled release"
    assert template_source.known_versions() == ["v1.0.0", "v1.1.0"]
    # v1.0.0 is the template as it was: without the file v1.1.0 added
    shown = git.run(["ls-tree", "-r", "--name-only", "v1.0.0"], published.repo).split()
    assert "copier.yml" in shown and NEW_FILE not in shown
    assert NEW_FILE in git.run(["ls-tree", "-r", "--name-only", "v1.1.0"], published.repo)


def test_a_clone_without_template_tags_bundles_nothing(tmp_path: Path) -> None:
    """CI's tagless clone (and tags older than the template) build a wheel with no bundle."""
    sys.path.insert(0, str(REPO_ROOT))
    try:
        from build_hooks.template_history import build_history
    finally:
        sys.path.remove(str(REPO_ROOT))
    repo = tmp_path / "clone"
    repo.mkdir()
    (repo / "README.md").write_text("before the template\n")
    git.init_repo(repo, "no template yet")
    git.run(["tag", "v0.1.0"], repo)  # a release without a template: nothing to bundle
    shutil.copy2(REPO_ROOT / "copier.yml", repo / "copier.yml")
    (repo / "template").mkdir()
    (repo / "template" / "README.md").write_text("x\n")
    git.commit_all(repo, "the template")
    assert build_history(repo, tmp_path / "out.bundle") == []
    assert not (tmp_path / "out.bundle").exists()
    git.run(["tag", "v0.9.0"], repo)
    assert build_history(repo, tmp_path / "out.bundle") == ["v0.9.0"]


def flux_fleet(argv: list[str], wheel: dict, cache: Path) -> subprocess.CompletedProcess:
    """The unpacked wheel's flux-fleet (PYTHONPATH puts it before the checkout's install)."""
    env = {**os.environ, "PYTHONPATH": str(wheel["site"]), "XDG_CACHE_HOME": str(cache),
           "GIT_ALLOW_PROTOCOL": "file", "HOME": str(cache.parent)}
    return subprocess.run([sys.executable, "-m", "flux_fleet", *argv], env=env,
                          capture_output=True, text=True, check=False, cwd=cache.parent)


@pytest.mark.skipif(not FULL, reason="set FLUX_FLEET_WHEEL_TEST=1 (renders ~8 times)")
def test_the_unpacked_wheel_runs_every_day2_command_offline(wheel: dict, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fleet = tmp_path / "fleet"

    def ok(*argv: str) -> str:
        done = flux_fleet([*argv], wheel, cache)
        assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
        return done.stdout

    where = subprocess.run([sys.executable, "-c", "import flux_fleet; print(flux_fleet.__file__)"],
                           env={**os.environ, "PYTHONPATH": str(wheel["site"])},
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(wheel["site"])), where
    ok("new", str(fleet), "--defaults", "--vcs-ref", "v1.0.0")
    answers = yaml.safe_load((fleet / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v1.0.0"
    assert "://" in answers["_src_path"], "a portable source, not the cache's path"
    assert not (fleet / NEW_FILE.removeprefix("template/platform/")).exists()
    ok("tenant", "add", "team-b", "--repo", "https://github.com/example-org/team-b",
       "--dir", str(fleet))
    git.commit_all(fleet, "team-b")
    ok("cluster", "add", "qa", "--context", "qa-admin", "--dir", str(fleet))
    assert (fleet / "clusters" / "qa").is_dir()
    git.commit_all(fleet, "qa")
    assert "v1.1.0" in ok("check-update", "--dir", str(fleet))
    ok("update", "--dir", str(fleet))
    assert yaml.safe_load((fleet / ".copier-answers.yml").read_text())["_commit"] == "v1.1.0"
    assert (fleet / NEW_FILE.removeprefix("template/platform/")).is_file()
    git.commit_all(fleet, "update")
    ok("tenant", "remove", "team-b", "--dir", str(fleet))
    git.commit_all(fleet, "no team-b")
    ok("cluster", "remove", "qa", "--dir", str(fleet))
    assert not any(fleet.rglob("*team-b*")) and not (fleet / "clusters" / "qa").exists()


def test_importing_the_history_never_moves_a_tag_the_cache_has(wheel: dict,
                                                              tmp_path: Path) -> None:
    bundle = wheel["site"] / BUNDLE
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "copier.yml").write_text("{}\n")
    git.init_repo(cache, "a v1.0.0 met earlier")
    git.run(["tag", "v1.0.0"], cache)
    mine = git.head(cache)

    assert template_source.import_history(cache, bundle) == ["v1.1.0"]
    assert git.run(["rev-parse", "v1.0.0^{commit}"], cache).strip() == mine
    assert template_source.import_history(cache, bundle) == [], "once is enough"
    damaged = tmp_path / "damaged.bundle"
    damaged.write_bytes(bundle.read_bytes()[:200])
    empty = tmp_path / "empty"
    empty.mkdir()
    git.run(["init", "--quiet"], empty)
    assert template_source.import_history(empty, damaged) == [], "fewer versions, no crash"
    assert template_source.import_history(empty, bundle) == ["v1.0.0", "v1.1.0"]
