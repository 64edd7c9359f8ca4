"""The one git wrapper: every git call of flux-fleet goes through ``run`` and fails as GitError.

Lifecycle commands need a few facts about a fleet repository (is it a repo, is it clean, which
files are unmerged) and about a template repository (its tags, a file at a tag); each is a small
function here so the lifecycle code reads as the story and tests can use real repositories.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flux_fleet.errors import ToolError


class GitError(ToolError):
    """git exited non-zero; carries the command line and git's stderr."""

    def __init__(self, cmd: Sequence[str], returncode: int, stderr: str = "") -> None:
        super().__init__("git", cmd, returncode, stderr)


def run(args: Sequence[str], cwd: Path | str | None = None, *, check: bool = True,
        input: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``git ARGS`` in ``cwd`` and return its stdout (GitError when it fails and ``check``)."""
    exe = shutil.which("git")
    if exe is None:
        raise GitError(["git", *args], 127, "git is not installed or not on PATH")
    cmd = [exe, *args]
    proc = subprocess.run(cmd, cwd=cwd, input=input, capture_output=True, text=True,
                          check=False, env=env)
    if check and proc.returncode != 0:
        raise GitError(["git", *args], proc.returncode, proc.stderr or proc.stdout)
    return proc.stdout


def toplevel(path: Path) -> Path | None:
    """The work tree root holding ``path``, or None when ``path`` is not inside a git repo."""
    if not path.is_dir():
        return None
    try:
        return Path(run(["rev-parse", "--show-toplevel"], path).strip())
    except GitError:
        return None


@dataclass(frozen=True)
class Status:
    """What ``git status`` says about a work tree, split the way lifecycle commands need it."""

    changed: tuple[str, ...]  # modified, added, deleted, renamed (staged or not)
    untracked: tuple[str, ...]
    unmerged: tuple[str, ...]  # paths with conflict stages in the index

    @property
    def clean(self) -> bool:
        return not (self.changed or self.untracked or self.unmerged)

    def all_paths(self) -> tuple[str, ...]:
        return tuple(sorted({*self.changed, *self.untracked, *self.unmerged}))


_UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}


def status(root: Path) -> Status:
    """Parse ``git status --porcelain`` (untracked files listed one by one)."""
    out = run(["status", "--porcelain=v1", "-z", "--untracked-files=all"], root)
    changed: list[str] = []
    untracked: list[str] = []
    unmerged: list[str] = []
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if code[0] in "RC":  # the rename source follows as its own entry
            i += 1
        if code == "??":
            untracked.append(path)
        elif code in _UNMERGED:
            unmerged.append(path)
        elif code != "!!":
            changed.append(path)
    return Status(tuple(changed), tuple(untracked), tuple(sorted(set(unmerged))))


def unmerged_paths(root: Path) -> list[str]:
    """Top-relative paths with conflict stages (1-3) in the index: copier records them so."""
    out = run(["ls-files", "--unmerged", "--full-name", "-z"], root)
    return sorted({e.split("\t", 1)[1] for e in out.split("\0") if "\t" in e})


def head(root: Path) -> str:
    return run(["rev-parse", "HEAD"], root).strip()


def tracked_files(root: Path) -> list[str]:
    """Every file git tracks under ``root`` (repository-relative, POSIX)."""
    return sorted(p for p in run(["ls-files", "-z"], root).split("\0") if p)


_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


def version_key(tag: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) for tags like v1, 1.2, v1.2.3; None for anything else."""
    m = _VERSION.match(tag)
    if not m:
        return None
    return tuple(int(g or 0) for g in m.groups())  # type: ignore[return-value]


def remote_tags(src: str) -> list[str]:
    """Version tags of a template repository (local path or URL), oldest first."""
    import os

    # never wait for a password prompt: an unreachable source is an answer, not a hang
    out = run(["ls-remote", "--tags", "--refs", src],
              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    tags = [line.split("refs/tags/", 1)[1] for line in out.splitlines() if "refs/tags/" in line]
    versioned = [t for t in tags if version_key(t) is not None]
    return sorted(versioned, key=lambda t: version_key(t) or (0, 0, 0))


def show_at(src: str, ref: str, path: str, workdir: Path) -> str:
    """The text of ``path`` at ``ref`` in the template repository ``src`` (shallow fetch)."""
    local = Path(src)
    if local.is_dir() and toplevel(local) is not None:
        return run(["show", f"{ref}:{path}"], local)
    clone = workdir / "template"
    run(["clone", "--quiet", "--depth", "1", "--branch", ref, "--no-checkout", src, str(clone)])
    return run(["show", f"HEAD:{path}"], clone)


def init_repo(root: Path, message: str = "initial commit") -> str:
    """Make ``root`` a git repo with everything committed (used to stage copier temp trees)."""
    run(["init", "--quiet"], root)
    commit_all(root, message)
    return head(root)


def commit_all(root: Path, message: str) -> None:
    run(["add", "--all"], root)
    run(["-c", "commit.gpgsign=false", "commit", "--quiet", "--allow-empty", "--no-verify",
         "-m", message], root)


def clone(src: Path, dest: Path) -> None:
    """A local clone of the fleet at HEAD (sharing its objects), to try an operation on."""
    run(["clone", "--quiet", "--shared", "--no-tags", str(src), str(dest)])
