"""Which files of this repository are in the artifact a Flux source makes of it.

source-controller packs a GitRepository (and an OCIRepository's layer, and ``flux push
artifact``) as a tarball of regular files, leaving out those its ignore matcher excludes; a
kustomize build in the cluster never sees them. The matcher, as fluxcd/pkg ``sourceignore``
and source-controller's ``SourceIgnoreFilter`` build it:

- the patterns of every ``.sourceignore`` file, each scoped to the folder that holds it
  (``LoadIgnorePatterns`` walks the tree, ``.git`` aside), then the source's ``spec.ignore``;
- when there is at least one such pattern: the VCS patterns (``.git/``, ``.gitignore``,
  ``.gitmodules``, ``.gitattributes``) below them; when there is none: the VCS patterns and
  the defaults (images, archives, CI files, ``.sops.yaml``, ``.goreleaser.yml``,
  ``.flux.yaml``). So any ``.sourceignore`` or ``spec.ignore`` replaces the defaults.

Patterns have go-git's gitignore semantics (``plumbing/format/gitignore``), which differ from
git's in one way that matters: every file is matched on its own, and a pattern that matches
one of its leading folders matches it, so ``!keep.yaml`` inside an excluded folder re-includes
that file. The last pattern that matches decides. Names are matched with Go's
``filepath.Match`` (``*``, ``?``, ``[...]`` with ``^`` negation, ``\\`` escapes).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

IGNORE_FILE = ".sourceignore"
VCS = (".git/", ".gitignore", ".gitmodules", ".gitattributes")
DEFAULTS = (
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
    "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
    "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
)
_MAX_IGNORE_BYTES = 1 << 20  # a .sourceignore larger than this is not a list of patterns
_MAX_IGNORE_FILES = 10_000


@dataclass(frozen=True)
class Pattern:
    """One gitignore line, scoped to the folder (``domain``) of the file it came from."""

    parts: tuple[str, ...]
    domain: tuple[str, ...]
    inclusion: bool
    dir_only: bool
    is_glob: bool
    origin: str  # "path/.sourceignore:3", "spec.ignore:1" or "default"
    literal: str | None = None  # a name pattern without wildcards: compared, not matched
    suffix: str | None = None  # a "*<literal>" name pattern: an ending, not a match

    def match(self, path: tuple[str, ...], is_dir: bool = False) -> bool:
        """Whether this pattern matches ``path`` (go-git ``pattern.Match``, minus the verdict)."""
        if len(path) <= len(self.domain) or path[: len(self.domain)] != self.domain:
            return False
        rest = path[len(self.domain):]
        return self._glob(rest, is_dir) if self.is_glob else self._name(rest, is_dir)

    def _name(self, path: tuple[str, ...], is_dir: bool) -> bool:
        first = self._first(path)
        if first < 0:
            return False
        return not (self.dir_only and not is_dir and first == len(path) - 1)

    def _first(self, path: tuple[str, ...]) -> int:
        """The index of the first path element the name pattern matches, -1 for none."""
        if self.literal is not None:
            return path.index(self.literal) if self.literal in path else -1
        if self.suffix is not None:
            return next((i for i, name in enumerate(path) if name.endswith(self.suffix)), -1)
        return next((i for i, name in enumerate(path) if _fnmatch(self.parts[0], name)), -1)

    def _glob(self, path: tuple[str, ...], is_dir: bool) -> bool:
        matched = traverse = False
        rest = list(path)
        for i, part in enumerate(self.parts):
            if part == "":
                traverse = False
                continue
            if part == "**":
                if i == len(self.parts) - 1:
                    break
                traverse = True
                continue
            if "**" in part or not rest:
                return False
            if traverse:
                traverse = False
                while rest:
                    name = rest.pop(0)
                    if _fnmatch(part, name):
                        matched = True
                        break
                    if not rest:
                        matched = False
            else:
                if not _fnmatch(part, rest[0]):
                    return False
                matched = True
                rest.pop(0)
        return not (matched and self.dir_only and not is_dir and not rest) and matched


def parse(line: str, domain: tuple[str, ...] = (), origin: str = "") -> Pattern:
    """go-git ``ParsePattern``: ``!`` includes, a trailing ``/`` means folders only, a ``/``
    anywhere else makes it a path glob anchored at the domain."""
    inclusion = line.startswith("!")
    if inclusion:
        line = line[1:]
    if not line.endswith("\\ "):
        line = line.rstrip(" ")
    dir_only = line.endswith("/")
    if dir_only:
        line = line[:-1]
    glob = "/" in line
    name = line[3:] if line.startswith("**/") and "/" not in line[3:] else None
    if name is not None:  # "**/x" matches like the name pattern "x" (first element, then rest)
        glob = False
    else:
        name = None if glob else line
    literal = suffix = None
    if name is not None and not any(c in name for c in "*?[\\"):
        literal = name
    elif name is not None and name.startswith("*") and not any(c in name[1:] for c in "*?[\\"):
        suffix = name[1:]
    return Pattern(tuple(line.split("/")), domain, inclusion, dir_only, glob, origin,
                   literal, suffix)


def read_patterns(text: str, domain: tuple[str, ...] = (), origin: str = "") -> list[Pattern]:
    """The patterns of a gitignore text: blank lines and ``#`` comments do not count."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            out.append(parse(line, domain, f"{origin}:{number}" if origin else str(number)))
    return out


@dataclass(frozen=True)
class Matcher:
    """The artifact filter of one source: ``excluded(file)`` names the pattern that drops it."""

    patterns: tuple[Pattern, ...]

    @cached_property
    def _quick(self) -> tuple[frozenset[str], tuple[str, ...]] | None:
        """When every pattern excludes by a whole name or an ending (the defaults), the names
        and endings that can match at all: a file with none of them is in the artifact."""
        if any(p.inclusion or (p.literal is None and p.suffix is None) for p in self.patterns):
            return None
        return (frozenset(p.literal for p in self.patterns if p.literal is not None),
                tuple(p.suffix for p in self.patterns if p.suffix is not None))

    def excluded(self, file: str) -> Pattern | None:
        quick = self._quick
        if quick is not None:
            names = file.split("/")
            if quick[0].isdisjoint(names) and not any(n.endswith(quick[1]) for n in names):
                return None
        path = tuple(file.split("/"))
        for pattern in reversed(self.patterns):
            if pattern.match(path):
                return None if pattern.inclusion else pattern
        return None


def matcher(found: Iterable[Pattern], spec_ignore: str | None = None) -> Matcher:
    """source-controller's filter: the repository's and the spec's patterns over the VCS
    patterns, or the defaults when there are none."""
    own = list(found)
    if spec_ignore:
        own += read_patterns(spec_ignore, (), "spec.ignore")
    base = [parse(p, (), "default") for p in (VCS if own else VCS + DEFAULTS)]
    return Matcher(tuple(base + own))


def load(root: str | os.PathLike[str], folder: str = ".") -> list[Pattern]:
    """Every ``.sourceignore`` under ``root/folder`` (the artifact's root), scoped to its
    folder, outermost first as ``LoadIgnorePatterns`` gathers them. Reads regular files only,
    never follows links (a link could leave the repository), and bounds what it reads."""
    base = os.path.join(os.fspath(root), folder) if folder != "." else os.fspath(root)
    out: list[Pattern] = []
    seen = 0
    stack: list[tuple[str, tuple[str, ...]]] = [(base, ())]
    while stack and seen < _MAX_IGNORE_FILES:
        path, domain = stack.pop()
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if entry.name == IGNORE_FILE and stat.S_ISREG(mode):
                seen += 1
                if entry.stat().st_size <= _MAX_IGNORE_BYTES:
                    rel = "/".join((*domain, IGNORE_FILE))
                    if folder != ".":
                        rel = f"{folder}/{rel}"
                    try:
                        with open(entry.path, encoding="utf-8", errors="replace") as fh:
                            text = fh.read()
                    except OSError:
                        continue
                    out.extend(read_patterns(text, domain, rel))
            elif stat.S_ISDIR(mode) and entry.name != ".git":
                subdirs.append((entry.path, (*domain, entry.name)))
        stack.extend(reversed(subdirs))
    return out


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str] | None:
    """Go's ``filepath.Match`` for one path element, as a regular expression (None: a bad
    pattern, which matches nothing, as Go's ErrBadPattern does)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i >= n:
                return None
            out.append(re.escape(pattern[i]))
        elif c == "[":
            j = i + 1
            negate = j < n and pattern[j] == "^"
            if negate:
                j += 1
            body = []
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\":
                    j += 1
                    if j >= n:
                        return None
                body.append(re.escape(pattern[j]) if pattern[j] != "-" else "-")
                j += 1
            if j >= n or not body:
                return None
            out.append(("[^" if negate else "[") + "".join(body) + "]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error:
        return None


def _fnmatch(pattern: str, name: str) -> bool:
    rx = _regex(pattern)
    return bool(rx and rx.match(name))


@dataclass(frozen=True)
class Artifact:
    """What one source's artifact holds: the files under ``folder`` its matcher keeps."""

    folder: str
    matcher: Matcher

    def why_not(self, file: str) -> str:
        """"" when ``file`` is in the artifact, else why not (for a skip message)."""
        if self.folder != ".":
            if not file.startswith(self.folder + "/"):
                return f"outside {self.folder}/, the folder the source is made of"
            file = file[len(self.folder) + 1:]
        pattern = self.matcher.excluded(file)
        if pattern is None:
            return ""
        text = ("!" if pattern.inclusion else "") + "/".join(pattern.parts) + (
            "/" if pattern.dir_only else "")
        if pattern.origin == "default":
            return f"excluded by source-controller's default ignore pattern {text!r}"
        return f"excluded by {pattern.origin} ({text!r})"


def artifacts(root: str | os.PathLike[str],
              sources: Iterable[tuple[str, str | None]]) -> list[Artifact]:
    """One artifact per distinct (folder, spec.ignore) of the clusters' sources; with none
    (no sync root found), the whole repository as a GitRepository would pack it."""
    wanted = list(dict.fromkeys(sources)) or [(".", None)]
    loaded: dict[str, list[Pattern]] = {}
    out = []
    for folder, spec_ignore in wanted:
        if folder not in loaded:
            loaded[folder] = load(root, folder)
        out.append(Artifact(folder, matcher(loaded[folder], spec_ignore)))
    return out


def why_omitted(file: str, found: list[Artifact]) -> str:
    """"" when some cluster's artifact holds ``file``; else why the first one does not."""
    reasons = [a.why_not(file) for a in found]
    return "" if not all(reasons) else reasons[0]
