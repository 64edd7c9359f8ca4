"""All-or-nothing changes to a fleet's work tree, recoverable after ``kill -9``.

A lifecycle command computes its change in a scratch clone under ``.git/flux-fleet/tmp-<pid>/``
(Copier's own temporary clones go there too) and commits it there. Applying it is one recorded
step: the commit is fetched into the fleet as ``refs/flux-fleet/pending``, a marker
``.git/flux-fleet/in-progress.json`` names the before and after commits, the changed files are
written (each atomically, by rename), the index is set to the after tree, and the marker goes.
A run killed at any point leaves either no marker (nothing touched; its scratch folder is swept
by the next run) or a marker from which ``recover`` tells before from after and can finish or
roll back. ``FLUX_FLEET_TEST_KILL_AT=<step>`` makes the process SIGKILL itself at a named step
(used by the tests; inert when unset).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from flux_fleet.errors import UserError
from flux_fleet.scaffold import git

KILL_ENV = "FLUX_FLEET_TEST_KILL_AT"
PENDING_REF = "refs/flux-fleet/pending"
MARKER = "in-progress.json"


def checkpoint(step: str) -> None:
    """Test-only fault injection: die here, as a closed laptop lid would."""
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def state_dir(top: Path) -> Path:
    return Path(git.run(["rev-parse", "--absolute-git-dir"], top).strip()) / "flux-fleet"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Copier (>= 9.19) keeps a mirror of each remote template in its user cache and clones a new one
# into a ``copier._vcs.clone.*`` staging folder next to it (copier/_vcs.py
# `_get_or_create_mirror`): a run killed mid-clone leaves that folder. None lives an hour.
COPIER_STAGING = "copier._vcs.clone.*"
STALE_AFTER = 3600.0


def copier_cache_dir() -> Path:
    """Where Copier keeps its template mirrors (its ``COPIER_CACHE_DIR`` or the user cache)."""
    override = os.environ.get("COPIER_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("copier", appauthor=False)) / "git"


def sweep_copier_staging(now: float | None = None) -> list[Path]:
    """Remove Copier's mirror staging folders older than an hour (a dead run's clone)."""
    now = time.time() if now is None else now
    gone: list[Path] = []
    base = copier_cache_dir()
    for entry in base.glob(COPIER_STAGING) if base.is_dir() else ():
        try:
            stale = now - entry.stat().st_mtime > STALE_AFTER
        except OSError:
            continue
        if stale and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            gone.append(entry)
    return gone


def sweep(top: Path) -> list[str]:
    """Remove scratch folders of runs that died; what each was doing (for the user)."""
    sweep_copier_staging()
    base = state_dir(top)
    notes: list[str] = []
    if not base.is_dir():
        return notes
    for entry in sorted(base.glob("tmp-*")):
        try:
            pid = int(entry.name.removeprefix("tmp-"))
        except ValueError:
            continue
        if _alive(pid):
            continue
        what = ""
        op_file = entry / "operation"
        if op_file.is_file():
            what = op_file.read_text(encoding="utf-8").strip()
        shutil.rmtree(entry, ignore_errors=True)
        if what:
            notes.append(f"an interrupted `flux-fleet {what}` (pid {pid}) stopped before "
                         "changing any file: the tree is exactly as before it; its scratch "
                         "files were removed")
    return notes


@contextmanager
def scratch(top: Path, operation: str) -> Iterator[Path]:
    """A private scratch folder inside the fleet's git dir, removed on exit or by the next run.

    Copier has no option for its temporary folders, so ``tempfile.tempdir`` points here for the
    duration (restored after): a killed run leaves nothing in /tmp.
    """
    base = state_dir(top)
    folder = base / f"tmp-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "operation").write_text(operation + "\n", encoding="utf-8")
    saved = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Pending:
    """The marker of an apply under way: enough to finish it or roll it back."""

    operation: str
    before: str  # HEAD when the change was computed (the work tree equalled it)
    after: str  # commit holding the after tree
    pid: int
    backup: str = ""  # folder of files --force backed up before overwriting them
    subdir: str = "."  # the fleet's folder in the work tree (backup paths are relative to it)


def read_pending(top: Path) -> Pending | None:
    path = state_dir(top) / MARKER
    if not path.is_file():
        return None
    try:
        return Pending(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as err:
        raise UserError(f"{path}: unreadable in-progress marker ({err})",
                        hint=f"inspect `git status`; delete {path} once the tree is right") from err


def _write_pending(top: Path, pending: Pending) -> None:
    path = state_dir(top) / MARKER
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(pending), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _clear_pending(top: Path) -> None:
    (state_dir(top) / MARKER).unlink(missing_ok=True)
    git.run(["update-ref", "-d", PENDING_REF], top, check=False)


@dataclass(frozen=True)
class Change:
    """One path between the before and after trees (``blob`` empty: absent in the target)."""

    path: str
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str


_ZERO = "0" * 40


def changes(top: Path, before: str, after: str) -> list[Change]:
    """Every file that differs between two commits (no rename detection)."""
    out = git.run(["diff-tree", "-r", "-z", "--no-renames", "--raw", before, after], top)
    parts = [p for p in out.split("\0")]
    result: list[Change] = []
    i = 0
    while i + 1 < len(parts):
        meta, path = parts[i], parts[i + 1]
        i += 2
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, old_blob, new_blob, _status = meta[1:].split(" ")
        result.append(Change(path, old_mode, new_mode,
                             "" if old_blob == _ZERO else old_blob,
                             "" if new_blob == _ZERO else new_blob))
    return result


def _blobs(top: Path, shas: Sequence[str]) -> dict[str, bytes]:
    """Blob contents by id, read with one ``git cat-file --batch``."""
    import subprocess

    wanted = sorted(set(s for s in shas if s))
    if not wanted:
        return {}
    proc = subprocess.run(["git", "cat-file", "--batch"], cwd=top, check=True,
                          input=("\n".join(wanted) + "\n").encode(), capture_output=True)
    data, pos, blobs = proc.stdout, 0, {}
    for sha in wanted:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].split()[2])
        blobs[sha] = data[header_end + 1: header_end + 1 + size]
        pos = header_end + 1 + size + 1
    return blobs


def _write(top: Path, items: Sequence[tuple[str, str, str]], step: str) -> None:
    """Bring each (path, mode, blob) to the target; deletions first (file/folder swaps)."""
    blobs = _blobs(top, [b for _, _, b in items])
    ordered = sorted(items, key=lambda it: bool(it[2]))
    for n, (rel, mode, blob) in enumerate(ordered, start=1):
        target = top / rel
        if not blob:
            if target.is_file() or target.is_symlink():
                target.unlink()
            parent = target.parent
            while parent != top and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.flux-fleet-tmp")
            tmp.unlink(missing_ok=True)
            if mode == "120000":
                os.symlink(blobs[blob].decode(), tmp)
            else:
                tmp.write_bytes(blobs[blob])
                tmp.chmod(0o755 if mode == "100755" else 0o644)
            os.replace(tmp, target)
        checkpoint(f"{step}-{n}")


def _move(top: Path, pending: Pending, to_after: bool) -> None:
    items = [(c.path, c.new_mode if to_after else c.old_mode,
              c.new_blob if to_after else c.old_blob)
             for c in changes(top, pending.before, pending.after)]
    _write(top, items, "apply" if to_after else "rollback")
    git.run(["read-tree", pending.after if to_after else pending.before], top)
    git.run(["update-index", "-q", "--refresh"], top, check=False)


def apply(top: Path, scratch_repo: Path, operation: str, before: str,
          backup: Path | None = None, subdir: str = ".") -> None:
    """Apply the scratch repo's HEAD to the fleet's work tree and index, recoverably.

    ``before`` is the commit the change was computed from: a fleet that moved meanwhile (a
    commit, an edit, another flux-fleet run) is refused, unchanged.
    """
    if (read_pending(top) is not None or git.head(top) != before
            or not git.status(top).clean):
        raise UserError(f"{top} changed while `flux-fleet {operation}` was computing; nothing "
                        "was changed", hint="rerun the command on the tree as it is now")
    git.run(["fetch", "--quiet", "--no-tags", str(scratch_repo), f"+HEAD:{PENDING_REF}"], top)
    after = git.run(["rev-parse", PENDING_REF], top).strip()
    pending = Pending(operation, before, after, os.getpid(),
                      str(backup) if backup else "", subdir)
    _write_pending(top, pending)
    checkpoint("marker")
    _move(top, pending, to_after=True)
    checkpoint("applied")
    _clear_pending(top)


def state(top: Path, pending: Pending) -> str:
    """``before``, ``after`` or ``partial``: what the work tree holds of the pending change."""
    items = changes(top, pending.before, pending.after)
    blobs = _blobs(top, [c.old_blob for c in items] + [c.new_blob for c in items])

    def holds(blob: str, path: str) -> bool:
        target = top / path
        if not blob:
            return not (target.exists() or target.is_symlink())
        if target.is_symlink():
            return os.readlink(target).encode() == blobs[blob]
        return target.is_file() and target.read_bytes() == blobs[blob]

    if all(holds(c.new_blob, c.path) for c in items):
        return "after"
    if all(holds(c.old_blob, c.path) for c in items):
        return "before"
    return "partial"


def guard(top: Path) -> list[str]:
    """Refuse to start over an interrupted apply; sweep dead runs' scratch folders (notes)."""
    notes = sweep(top)
    pending = read_pending(top)
    if pending is not None:
        if pending.pid != os.getpid() and _alive(pending.pid):
            raise UserError(f"another flux-fleet run (pid {pending.pid}) is applying "
                            f"`{pending.operation}` to {top}",
                            hint="wait for it to finish, then rerun")
        where = {"before": "exactly as before it", "after": "exactly as after it",
                 "partial": "part-way between before and after"}[state(top, pending)]
        raise UserError(
            f"an interrupted `flux-fleet {pending.operation}` left {top} {where}",
            hint="run `flux-fleet recover --finish` to complete it, or `flux-fleet recover "
                 "--rollback` to return to the tree before it")
    return notes


def recover(top: Path, finish: bool) -> tuple[str, str]:
    """Finish or roll back an interrupted apply; (operation, state it was found in)."""
    sweep(top)
    pending = read_pending(top)
    if pending is None:
        raise UserError(f"{top}: no interrupted flux-fleet change to recover",
                        hint="nothing to do; `git status` shows the tree")
    found = state(top, pending)
    _move(top, pending, to_after=finish)
    if not finish and pending.backup:
        saved = Path(pending.backup)
        for src in (p for p in saved.rglob("*") if p.is_file()):
            dest = top / pending.subdir / src.relative_to(saved)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    _clear_pending(top)
    return pending.operation, found
