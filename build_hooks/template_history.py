"""Hatch build hook: the wheel carries the template's release history (issue 12, offline).

At packaging time every release tag ``vX.Y.Z`` of this repository becomes one commit of a small
git repository that holds only the template (``copier.yml`` + ``template/``), in version order,
each tagged as its release; ``git bundle create --all`` packs it into
``flux_fleet/_template/history.bundle``. At run time ``template_source.publish`` fetches the
bundle's tags into the user's template cache, so day-2 commands work with no network between
any two releases the package knows.

A clone without tags (CI's shallow checkout, an sdist) gets no bundle: the wheel then carries
only its own template, as before, and the build says so. Only git is used; nothing of
flux_fleet is imported (the build environment does not have it).

Git facts followed: ``git archive <tag> <paths>`` writes a tag's tree without a checkout;
``git bundle create <file> --all`` packs every ref and its objects into one file that
``git fetch`` reads as a remote (git-bundle(1)).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLE = "flux_fleet/_template/history.bundle"
_RELEASE = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
_PATHS = ("copier.yml", "template")
_IDENTITY = {"GIT_AUTHOR_NAME": "flux-fleet", "GIT_AUTHOR_EMAIL": "flux-fleet@localhost",
             "GIT_COMMITTER_NAME": "flux-fleet", "GIT_COMMITTER_EMAIL": "flux-fleet@localhost"}


def _git(args: list[str], cwd: Path, env: dict[str, str] | None = None,
         check: bool = True) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              check=False, env={**os.environ, **(env or {})})
    except OSError as exc:  # no git in the build environment
        if check:
            raise RuntimeError(f"git {' '.join(args)}: {exc}") from exc
        return ""
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def release_tags(root: Path) -> list[str]:
    """The repository's ``vX.Y.Z`` tags that carry a template, oldest version first."""
    if _git(["rev-parse", "--is-inside-work-tree"], root, check=False).strip() != "true":
        return []
    tags = [t for t in _git(["tag", "--list", "v*"], root).split() if _RELEASE.fullmatch(t)]
    # a tag from before the template existed, or whose objects a shallow clone lacks, is skipped
    tags = [t for t in tags
            if _git(["cat-file", "-t", f"{t}:copier.yml"], root, check=False).strip() == "blob"
            and _git(["cat-file", "-t", f"{t}:template"], root, check=False).strip() == "tree"]
    return sorted(tags, key=lambda t: tuple(int(x) for x in _RELEASE.fullmatch(t).groups()))


def build_history(root: Path, out: Path) -> list[str]:
    """Write the bundle of ``root``'s template releases to ``out``; returns the tags bundled."""
    tags = release_tags(root)
    if not tags:
        return []
    with tempfile.TemporaryDirectory(prefix="flux-fleet-history-") as tmp:
        repo = Path(tmp) / "history"
        repo.mkdir()
        _git(["init", "--quiet"], repo)
        for tag in tags:
            for entry in repo.iterdir():
                if entry.name != ".git":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            archive = Path(tmp) / "tag.tar"
            _git(["archive", "--format=tar", "-o", str(archive), tag, *_PATHS], root)
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                    tar.extractall(repo, filter="data")
                else:  # our own tag's archive: trusted input
                    tar.extractall(repo)
            date = _git(["log", "-1", "--format=%cI", tag], root).strip()
            env = {**_IDENTITY, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
            _git(["add", "--all"], repo)
            _git(["-c", "commit.gpgsign=false", "commit", "--quiet", "--allow-empty",
                  "--no-verify", "-m", f"flux-fleet template {tag}"], repo, env)
            _git(["-c", "tag.gpgsign=false", "tag", tag], repo, env)
        out.parent.mkdir(parents=True, exist_ok=True)
        _git(["bundle", "create", "--quiet", str(out), "--all"], repo)
    return tags


class TemplateHistoryHook(BuildHookInterface):
    """Adds the history bundle to the wheel (nothing for an sdist or a tagless clone)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return  # an editable install runs the checkout's template, which has no bundle
        self._tmp = tempfile.mkdtemp(prefix="flux-fleet-bundle-")
        out = Path(self._tmp) / "history.bundle"
        tags = build_history(Path(self.root), out)
        if not tags:
            self.app.display_info("flux-fleet: no vX.Y.Z tags in this clone; the wheel carries "
                                  "only its own template (no release history bundled)")
            return
        self.app.display_info(f"flux-fleet: bundled template releases {', '.join(tags)} "
                              f"({out.stat().st_size // 1024} KiB)")
        build_data["force_include"][str(out)] = BUNDLE

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
