"""The build boundary: kustomize builds a staged copy of the repository and nothing else.

kustomize-controller builds with load restrictions off but on a secure filesystem rooted at
the artifact (fluxcd/pkg ``kustomize/filesys``, ``MakeFsOnDiskSecure``: every path goes through
``securejoin`` and a path that leaves the root is refused). kustomize itself, run with
``LoadRestrictionsNone`` on the real checkout, would follow a symlink to ``/etc/passwd`` or a
``configMapGenerator`` naming ``../../.git/config``. So builds read a stage instead:

- regular files inside the root are hard-linked (copied across filesystems), ``.git`` left out;
- a symlink whose target stays inside the root is materialised as a copy of its target (files
  hard-linked, folders staged again), so the stage holds no links and ``..`` means the same
  lexically and on disk; a link that leaves the root (or loops) is left out, and the build
  fails as Flux's would;
- FIFOs, sockets and devices are never staged (never opened).

What the stage cannot hide is a reference that walks out of it lexically (``../../x``, ``/x``):
those are read from the kustomization documents of each build and refused before kustomize
runs (FF304), with the other refusals the stage made. Builds that would read a file the loader
refused (FF105 oversize, FF106 alias bomb or nesting) are not run (FF305).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flux_fleet.model import Document, Finding, Severity
from flux_fleet.validate.rules import Rule

RULES: tuple[Rule, ...] = (
    Rule(
        code="FF304",
        name="build-reads-outside-repository",
        severity=Severity.ERROR,
        summary="A kustomization names a file outside the repository (or a link leaving it)",
        why="kustomize-controller builds on a filesystem rooted at the source artifact and "
        "refuses every path that resolves outside it: the build fails and nothing is applied. "
        "Read by a validator, such a path could also leak the CI machine's files.",
        fix="Keep every resource, patch and generator input inside the repository; replace the "
        "link or `../` path by a file in the repository",
        bad="configMapGenerator:\n  - name: app\n    files:\n      - ../../../.git/config\n",
        good="configMapGenerator:\n  - name: app\n    files:\n      - config/app.properties\n",
    ),
    Rule(
        code="FF305",
        name="build-input-refused",
        severity=Severity.ERROR,
        summary="A build would read a file the loader refused (too large, alias bomb, too deep)",
        why="kustomize expands such a file without bounds (one alias bomb took 20 GB before a "
        "timeout); the validator does not hand it over, so the build is not checked.",
        fix="Fix the file the loader reported (FF105/FF106) at the path named here",
        bad="# apps/kustomization.yaml\nresources:\n  - bomb.yaml   # a billion laughs\n",
        good="# apps/kustomization.yaml\nresources:\n  - deployment.yaml\n",
    ),
)

_R = {rule.code: rule for rule in RULES}
_VCS_DIRS = frozenset({".git", ".hg", ".svn"})


@dataclass
class Stage:
    """A staged copy of a repository; ``refused`` maps repository paths left out to why."""

    root: Path
    refused: dict[str, str] = field(default_factory=dict)
    files: int = 0


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


class _Stager:
    """Fills a stage; hard links until one fails (another filesystem), then copies."""

    def __init__(self, root: Path, dest: Path,
                 omit: Callable[[str], bool] | None = None) -> None:
        self.root = str(root)
        self.omit = omit
        self.real_root = os.path.realpath(root)
        self.stage = Stage(dest)
        self.link = True

    def put(self, src: str, dst: str) -> None:
        if self.link:
            try:
                os.link(src, dst)
                self.stage.files += 1
                return
            except OSError:
                self.link = False
        shutil.copyfile(src, dst)
        self.stage.files += 1

    def folder(self, real: str, rel: str, dst: str, chain: tuple[str, ...]) -> None:
        """Stage the real folder ``real`` (repository path ``rel``) at ``dst``."""
        os.makedirs(dst, exist_ok=True)
        try:
            entries = list(os.scandir(real))
        except OSError as err:
            self.stage.refused[rel or "."] = f"unreadable folder ({err.strerror})"
            return
        for entry in entries:
            if not rel and entry.name in _VCS_DIRS:
                self.stage.refused[entry.name] = "version control data, not in Flux's artifact"
                continue
            self.entry(entry, posixpath.join(rel, entry.name) if rel else entry.name,
                       os.path.join(dst, entry.name), chain)

    def entry(self, entry: os.DirEntry[str], rel: str, dst: str, chain: tuple[str, ...]) -> None:
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError:
            return
        if stat.S_ISLNK(mode):
            real = os.path.realpath(entry.path)
            if not _inside(real, self.real_root):
                self.stage.refused[rel] = "a symlink to outside the repository"
                return
            try:
                mode = os.stat(real).st_mode
            except OSError:
                self.stage.refused[rel] = "a dangling symlink"
                return
            if stat.S_ISDIR(mode):
                if any(_inside(c, real) for c in chain):
                    self.stage.refused[rel] = "a symlink loop"
                    return
                self.folder(real, rel, dst, (*chain, real))
                return
            path = real
        else:
            path = entry.path
        if stat.S_ISDIR(mode):
            self.folder(path, rel, dst, (*chain, os.path.realpath(path)))
        elif stat.S_ISREG(mode):
            if self.omit is None or not self.omit(rel):
                self.put(path, dst)
        else:
            self.stage.refused[rel] = "not a regular file (FIFO, socket or device)"


def answered(listed: Iterable[str], omitted: Iterable[str],
             ask: Callable[[str], bool]) -> Callable[[str], bool]:
    """``ask`` for ``stage``'s ``omit``, with the answers already known for ``listed`` files
    (``omitted``: those of them it leaves out): the loader's listing was already matched
    against every artifact's ignore rules, and matching it again per staged file cost as
    much as the staging itself on a 20 x 500 fleet."""
    known, out = frozenset(listed), frozenset(omitted)
    return lambda rel: rel in out if rel in known else ask(rel)


def stage(root: Path, dest: Path, omit: Callable[[str], bool] | None = None) -> Stage:
    """Stage ``root`` at ``dest`` (which must not exist); see the module docstring.

    ``omit(rel)``: regular files to leave out, as the source's artifact leaves them out."""
    stager = _Stager(root, dest, omit)
    stager.folder(stager.real_root, "", str(dest), (stager.real_root,))
    return stager.stage


# --- removing a scratch tree off the critical path ----------------------------------------

_removals: list[threading.Thread | subprocess.Popen[bytes]] = []
_removals_lock = threading.Lock()


def discard(path: Path) -> None:
    """Remove a scratch tree in the background: unlinking a 20 x 500 fleet's stage is
    ~0.1-0.4 s of system calls that can overlap the rules phase. An ``rm -rf`` process where
    there is one (no thread: the rules may fork, see ``flux_fleet.forked``), else a thread
    that is not a daemon; ``settle`` waits for either, so nothing is left in the temp folder."""
    rm = shutil.which("rm")
    worker: threading.Thread | subprocess.Popen[bytes]
    if rm is not None:
        try:
            worker = subprocess.Popen([rm, "-rf", "--", str(path)], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            rm = None
    if rm is None:
        worker = threading.Thread(target=shutil.rmtree, args=(path,),
                                  kwargs={"ignore_errors": True}, name="flux-fleet-discard")
        worker.start()
    with _removals_lock:
        _removals[:] = [w for w in _removals
                        if (w.is_alive() if isinstance(w, threading.Thread) else w.poll() is None)]
        _removals.append(worker)


def settle() -> None:
    """Wait until every scratch tree ``discard`` was given is gone."""
    with _removals_lock:
        pending, _removals[:] = list(_removals), []
    for worker in pending:
        if isinstance(worker, threading.Thread):
            worker.join()
        else:
            worker.wait()
            if worker.returncode != 0:  # what rm could not remove: try once more here
                shutil.rmtree(str(worker.args[-1]), ignore_errors=True)


# --- what the kustomizations of a build name ------------------------------------------------

_FileRef = tuple[tuple[Any, ...], str]  # (key path in the kustomization, the path it names)


def _items(kus: dict[str, Any], key: str) -> Iterator[tuple[int, Any]]:
    value = kus.get(key)
    return enumerate(value) if isinstance(value, list) else iter(())


def file_refs(kus: dict[str, Any]) -> Iterator[_FileRef]:
    """Every local path a kustomization names, with where it names it."""
    for key in ("resources", "bases", "components", "transformers", "generators", "validators",
                "configurations", "crds", "patchesStrategicMerge"):
        for i, ref in _items(kus, key):
            if isinstance(ref, str) and "\n" not in ref:
                yield (key, i), ref
    for key in ("patches", "patchesJson6902", "replacements"):
        for i, item in _items(kus, key):
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                yield (key, i, "path"), item["path"]
    for key in ("configMapGenerator", "secretGenerator"):
        for i, gen in _items(kus, key):
            if not isinstance(gen, dict):
                continue
            for sub in ("files", "envs"):
                for j, ref in _items(gen, sub):
                    if isinstance(ref, str):
                        yield (key, i, sub, j), ref.split("=", 1)[-1]
            if isinstance(gen.get("env"), str):
                yield (key, i, "env"), gen["env"]
    for i, chart in _items(kus, "helmCharts"):
        if isinstance(chart, dict) and isinstance(chart.get("valuesFile"), str):
            yield ("helmCharts", i, "valuesFile"), chart["valuesFile"]
    openapi = kus.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield ("openapi", "path"), openapi["path"]


def _remote(ref: str) -> bool:
    return "://" in ref or ref.startswith("git@") or "?ref=" in ref


def _refused_prefix(path: str, refused: dict[str, str]) -> str | None:
    probe = path
    while probe and probe != ".":
        if probe in refused:
            return probe
        probe = posixpath.dirname(probe)
    return None


def boundary(folders: Iterable[str], kustomizations: dict[str, Document],
             refused: dict[str, str], loader_refused: frozenset[str] = frozenset(),
             ) -> list[Finding]:
    """Findings for what the kustomizations in ``folders`` name outside the stage (FF304)
    or refused by the loader (FF305); empty when the build may run."""
    out: list[Finding] = []
    for folder in sorted(folders):
        doc = kustomizations.get(folder)
        if doc is None or not isinstance(doc.data, dict):
            continue
        for where, ref in file_refs(doc.data):
            ref = ref.strip()
            if not ref or _remote(ref):
                continue
            joined = posixpath.normpath(posixpath.join(folder, ref))
            if posixpath.isabs(ref) or joined == ".." or joined.startswith("../"):
                out.append(_R["FF304"].at(doc, where, f"{ref!r} is outside the repository: "
                                          "kustomize-controller refuses it, and it is not read"))
                continue
            bad = _refused_prefix(joined, refused)
            if bad is not None:
                out.append(_R["FF304"].at(doc, where, f"{ref!r}: {bad} is {refused[bad]}; "
                                          "kustomize-controller refuses it, and it is not read"))
            elif joined in loader_refused:
                out.append(_R["FF305"].at(doc, where, f"{ref!r} was refused by the loader "
                                          "(see its FF105/FF106 finding); the build is not run"))
    return out
