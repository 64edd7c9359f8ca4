"""Kustomize outputs kept between runs, keyed by what the build reads.

After a lifecycle command (``tenant add``...) most of a fleet is unchanged, and so are most
of its kustomize builds. A build's output is a function of the kustomization that runs it
(the wrapper, which holds the Flux Kustomization's build options), the bytes of every file
it reads, the kustomize binary and the code that writes the wrapper; the key is a SHA-256
of all of them, so a changed file changes exactly the keys of the builds that read it.
Only kustomize's raw output is kept: parsing, post-build substitution and every check still
run on every object, and the reference graph and tenancy checks still see the whole fleet.

The cache lives in the repository's ``.git/flux-fleet-cache/`` (or the user cache
directory), so it is treated as hostile input: each entry carries an HMAC made with a
secret kept in the user cache directory (an entry planted in a repository cannot be
forged), entries and the whole cache are bounded in size, a corrupt, foreign or oversized
entry is ignored, nothing in it is ever executed or followed through a symlink, and it is
never trusted across flux-fleet versions (the version and the building code are in the
key).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import posixpath
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: ``FLUX_FLEET_BUILD_CACHE``: ``0``/``off`` turns the cache off everywhere, ``1``/``on`` turns
#: it on for every validate (lifecycle commands use it by default).
ENV = "FLUX_FLEET_BUILD_CACHE"
MAX_ENTRY = 16 * 1024 * 1024  # bytes of one kustomize output kept
MAX_TOTAL = 256 * 1024 * 1024  # bytes of the whole cache before the oldest entries go
MAX_ENTRIES = 50_000
MAX_DIR_FILES = 10_000  # files a referenced folder may hold for its build to be cached
_MAGIC = b"flux-fleet build cache 1\n"
_SECRET_BYTES = 32
#: the modules whose code decides what a build's wrapper is and what kustomize is given
_CODE = ("checks/build.py", "kustomize.py", "kustomize_batch.py", "plain_build.py",
         "staging.py", "build_cache.py", "checks/lockdown_built.py")


def setting() -> bool | None:
    """The environment's say: True (on), False (off) or None (the caller decides)."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("0", "off", "no", "false"):
        return False
    if value in ("1", "on", "yes", "true"):
        return True
    return None


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flux-fleet"


def _real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _ensure_dir(path: Path) -> bool:
    """Create ``path`` (0700) if missing; False when it is not a real directory (a symlink)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    return _real_dir(path)


def _secret(home: Path) -> bytes | None:
    """The user's HMAC key, created on first use (0600); None when it cannot be had."""
    if not _ensure_dir(home):
        return None
    path = home / "build-cache.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return None
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(_SECRET_BYTES))
    data = _read_small(path, _SECRET_BYTES + 1)
    return data if data is not None and len(data) == _SECRET_BYTES else None


def _read_small(path: Path, limit: int) -> bytes | None:
    """A regular file's bytes if it holds at most ``limit`` bytes; never follows a symlink."""
    try:
        # no symlink at the end, and a FIFO planted in the cache does not block the open
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            data = handle.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)


def _file_digest(path: Path) -> str:
    """SHA-256 of a regular file, read in chunks (any size); ``-`` for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return "-"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "-"
        h = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
        return h.hexdigest()
    except OSError:
        return "-"
    finally:
        os.close(fd)


def _salt(kustomize_cmd: list[str] | None) -> bytes:
    """What makes two runs' outputs comparable: flux-fleet's version, the code that writes
    the wrappers and the kustomize binary (path, size and mtime: no process is started)."""
    import flux_fleet

    h = hashlib.sha256(str(flux_fleet.__version__).encode())
    here = Path(__file__).resolve().parent
    for rel in _CODE:
        try:
            h.update(rel.encode() + b"\0" + (here / rel).read_bytes())
        except OSError:
            h.update(rel.encode() + b"\0-")
    if kustomize_cmd:
        h.update("\0".join(kustomize_cmd).encode())
        found = shutil.which(kustomize_cmd[0])
        if found:
            info = os.stat(found)
            h.update(f"{os.path.realpath(found)}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    return h.digest()


@dataclass
class BuildCache:
    """One run's view of the cache: look-ups, then the outputs it built, stored at the end."""

    directory: Path
    secret: bytes
    salt: bytes
    hits: int = 0
    stored: int = 0
    _hashes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path, kustomize_cmd: list[str] | None) -> BuildCache | None:
        """The cache for the repository at ``root``: its ``.git/flux-fleet-cache/builds``
        when ``.git`` is a real directory, else the user cache directory; None when
        neither can be used safely (no secret, a symlink where a directory should be)."""
        home = user_cache_dir()
        key = _secret(home)
        if key is None:
            return None
        git = Path(root) / ".git"
        base = git / "flux-fleet-cache" if _real_dir(git) else home
        directory = base / "builds"
        if not (_ensure_dir(base) and _ensure_dir(directory)):
            return None
        return cls(directory, key, _salt(kustomize_cmd))

    # --- keys ---------------------------------------------------------------------------

    def file_hash(self, stage_root: Path, rel: str) -> str:
        """SHA-256 of a staged file (``-`` when it is missing or not a regular file)."""
        found = self._hashes.get(rel)
        if found is None:
            found = self._hashes[rel] = _file_digest(stage_root / rel)
        return found

    def key(self, wrapper: Mapping[str, Any], inputs: Iterable[str], stage_root: Path) -> str:
        h = hashlib.sha256(self.salt)
        h.update(json.dumps(wrapper, sort_keys=True, default=str).encode())
        for rel in sorted(set(inputs)):
            h.update(b"\n" + rel.encode() + b"\0" + self.file_hash(stage_root, rel).encode())
        return h.hexdigest()

    def derived_key(self, *parts: str) -> str:
        """A key for another build whose inputs the caller has hashed itself (``parts``)."""
        return hashlib.sha256(self.salt + "\0".join(parts).encode()).hexdigest()

    @staticmethod
    def inputs(stage_root: Path, files: Iterable[str], configs: Mapping[str, str],
               config_data: Callable[[str], Any],
               refs: Callable[[dict[str, Any]], tuple[list[str], list[str], list[str]]],
               ) -> list[str] | None:
        """``build_inputs``, for callers that hold the cache but do not import this module."""
        return build_inputs(stage_root, files, configs, config_data, refs)

    # --- entries ------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / key

    def _mac(self, key: str, body: bytes) -> bytes:
        mac = hmac.new(self.secret, key.encode() + b"\0" + body, hashlib.sha256)
        return mac.hexdigest().encode()

    def get(self, key: str) -> str | None:
        """The output stored under ``key``, or None (absent, corrupt, forged, too large)."""
        data = _read_small(self._path(key), MAX_ENTRY + len(_MAGIC) + 65)
        if data is None or not data.startswith(_MAGIC):
            return None
        mac, sep, body = data[len(_MAGIC):].partition(b"\n")
        if not sep or not hmac.compare_digest(mac, self._mac(key, body)):
            return None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        self.hits += 1
        return text

    def put(self, key: str, text: str) -> None:
        body = text.encode("utf-8")
        if len(body) > MAX_ENTRY:
            return
        folder = self.directory / key[:2]
        if not _ensure_dir(folder):
            return
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(_MAGIC + self._mac(key, body) + b"\n" + body)
            os.replace(tmp, self._path(key))
            self.stored += 1
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def prune(self) -> None:
        """Keep the cache under MAX_TOTAL bytes and MAX_ENTRIES entries: oldest go first."""
        if not self.stored:
            return
        entries: list[tuple[float, int, str]] = []
        try:
            for sub in os.scandir(self.directory):
                if not sub.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(sub.path):
                    if entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        entries.append((info.st_mtime, info.st_size, entry.path))
                if len(entries) > 2 * MAX_ENTRIES:
                    break  # a planted flood of files: bound the scan, prune what was seen
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        entries.sort()
        while entries and (total > MAX_TOTAL or len(entries) > MAX_ENTRIES):
            _, size, path = entries.pop(0)
            total -= size
            with contextlib.suppress(OSError):
                os.unlink(path)


def build_inputs(stage_root: Path, files: Iterable[str], configs: Mapping[str, str],
                 config_data: Callable[[str], Any],
                 refs: Callable[[dict[str, Any]], tuple[list[str], list[str], list[str]]],
                 ) -> list[str] | None:
    """Every staged file a build reads: the files it takes in (``files``), each
    kustomization file (``configs``: folder -> its kustomization file) and whatever those
    name (patches, generator sources, transformers...), a named folder with all of its files.
    None when a named folder is too large to hash (the build is then not cached)."""
    out = set(files)
    for folder, kfile in configs.items():
        out.add(kfile)
        data = config_data(folder)
        if not isinstance(data, dict):
            continue
        resources, patches, config = refs(data)
        for ref in (*resources, *patches, *config):
            if "://" in ref or ref.startswith(("/", "github.com/", "git@")):
                continue
            rel = posixpath.normpath(posixpath.join(folder, ref))
            if rel.startswith("../") or rel == "..":
                continue  # outside the stage: kustomize fails the same way every time
            full = stage_root / rel
            if _real_dir(full):
                count = 0
                for here, dirs, names in os.walk(full):
                    dirs.sort()
                    count += len(names)
                    if count > MAX_DIR_FILES:
                        return None
                    base = os.path.relpath(here, stage_root).replace(os.sep, "/")
                    out.update(posixpath.join(base, n) for n in names)
            else:
                out.add(rel)
    return sorted(out)
