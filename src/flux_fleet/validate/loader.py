"""Load every YAML document of a repository once, with file:line:col for every key.

Speed is the point: validation must keep up with bare libyaml parsing. So the loader runs
libyaml's event parser (PyYAML's ``CParser``) and builds plain Python data itself in one
iterative pass that also records positions, finds duplicate keys and bounds aliases and depth
(a "billion laughs" file or 100k nested brackets cost a finding, not a hang or a segfault:
PyYAML's recursive composer crashes on very deep nesting). The round-trip (ruamel) loader is
ten times slower and is only used where comments must survive.

Scalars resolve as YAML 1.1 ``safe_load`` does (what Kubernetes' Go YAML also does for
``yes``/``on``/``0x10``), except timestamps and ``!!binary``, which stay strings: Kubernetes
turns YAML into JSON, where a timestamp is a string.

Problems in files are findings (FF1xx), never exceptions.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from flux_fleet.errors import UserError
from flux_fleet.model import Document, Finding, Severity
from flux_fleet.validate.rules import Rule

try:  # libyaml is what makes this fast; the pure-Python parser is the fallback.
    from yaml import CSafeLoader as _Parser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Parser  # type: ignore[assignment]

RULES: tuple[Rule, ...] = (
    Rule(
        code="FF101",
        name="yaml-syntax-error",
        severity=Severity.ERROR,
        summary="The file is not valid YAML",
        why="Flux and kubectl refuse the whole file, so nothing in it is applied. A tab used "
        "for indentation is the most common cause: YAML allows only spaces there.",
        fix="Fix the YAML at the reported line (indent with spaces, close quotes and brackets)",
        bad="metadata:\n\tname: app   # a tab\n",
        good="metadata:\n  name: app\n",
    ),
    Rule(
        code="FF102",
        name="duplicate-key",
        severity=Severity.ERROR,
        summary="A mapping has the same key twice",
        why="Go YAML (kubectl, Flux) rejects duplicate keys, while many editors and Python "
        "loaders silently keep the last one: the file looks fine locally and fails to apply.",
        fix="Remove or merge one of the two keys",
        bad="metadata:\n  name: app\n  name: app2\n",
        good="metadata:\n  name: app2\n",
    ),
    Rule(
        code="FF103",
        name="not-utf8-text",
        severity=Severity.ERROR,
        summary="The file is binary or not valid UTF-8",
        why="Kubernetes manifests must be UTF-8 text; a binary or mis-encoded .yaml file "
        "cannot be applied and is usually committed by mistake.",
        fix="Re-save the file as UTF-8, or remove it / rename it so it is not a .yaml file",
        bad="name: caf\\xe9   # Latin-1 byte\n",
        good="name: café   # UTF-8\n",
    ),
    Rule(
        code="FF104",
        name="conflict-marker",
        severity=Severity.ERROR,
        summary="The file contains git conflict markers",
        why="A merge or `copier update` left a conflict unresolved (copier exits 0 even then); "
        "the file is not valid YAML and would break reconciliation.",
        fix="Resolve the conflict: keep the wanted side, delete the <<<<<<< ======= >>>>>>> lines",
        bad="<<<<<<< before updating\nreplicas: 1\n=======\nreplicas: 2\n>>>>>>> after updating\n",
        good="replicas: 2\n",
    ),
    Rule(
        code="FF105",
        name="file-too-large",
        severity=Severity.ERROR,
        summary="The file is larger than the loader's size limit",
        why="A multi-megabyte manifest is almost always generated output or data committed by "
        "mistake, and it would slow every validation run; it is not read.",
        fix="Split or remove the file, or raise the limit if it is really meant to be there",
    ),
    Rule(
        code="FF106",
        name="yaml-resource-limit",
        severity=Severity.ERROR,
        summary="The YAML expands too much through aliases or is nested too deeply",
        why="Alias bombs (\"billion laughs\") and pathological nesting exhaust memory in "
        "every tool that reads the file, including the Kubernetes API server, which rejects it.",
        fix="Write the data out without chains of nested aliases, and flatten the nesting",
        bad='a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
        good="a: [x, x, x]\n",
    ),
    Rule(
        code="FF107",
        name="symlink-outside-repository",
        severity=Severity.WARNING,
        summary="A symlinked YAML file points outside the repository; it was not read",
        why="Flux only sees the repository's own content (the source artifact does not follow "
        "links out of it), so the linked file would not be applied, and validation must not "
        "read files outside the repository.",
        fix="Copy the file into the repository, or remove the link",
    ),
)

_R = {rule.code: rule for rule in RULES}

YAML_SUFFIXES = (".yaml", ".yml")
_CONFLICT = re.compile(rb"^(?:<{7}(?: |\r?$)|={7}\r?$|>{7}(?: |\r?$))", re.MULTILINE)


@dataclass(frozen=True)
class LoadLimits:
    """Bounds that keep hostile or accidental input from hanging a run."""

    max_file_bytes: int = 5 * 1024 * 1024
    max_depth: int = 256  # Kubernetes objects rarely exceed 20; recursive walkers need headroom
    max_alias_nodes: int = 100_000  # values copied in through aliases, per document


DEFAULT_LIMITS = LoadLimits()


@dataclass
class LoadResult:
    documents: list[Document]
    findings: list[Finding]
    files: int = 0
    bytes: int = 0
    paths: list[str] = field(default_factory=list)  # the files that were read
    discovered: list[str] | None = None  # every YAML file found (None: caller named them)


# --- scalar resolution (YAML 1.1, as safe_load) -------------------------------------------

_WORDS: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    **{w: True for w in ("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")},
    **{w: False for w in ("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")},
}
_INT = re.compile(
    r"[-+]?(?:0b[0-1_]+|0[0-7_]+|(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
)
_FLOAT = re.compile(
    r"(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_NUMERIC_START = frozenset("-+0123456789.")
_MERGE = object()  # marker: the plain key "<<"


def _sexagesimal(text: str, cast: type) -> Any:
    sign = -1 if text[0] == "-" else 1
    total = cast(0)
    for part in text.lstrip("+-").split(":"):
        total = total * 60 + cast(part)
    return sign * total


def _to_int(text: str) -> int:
    t = text.replace("_", "")
    sign = -1 if t[0] == "-" else 1
    body = t.lstrip("+-")
    if ":" in body:
        return _sexagesimal(t, int)
    if body.startswith("0b"):
        return sign * int(body[2:], 2)
    if body.startswith("0x"):
        return sign * int(body[2:], 16)
    if len(body) > 1 and body[0] == "0":
        return sign * int(body, 8)
    return sign * int(body)


def _to_float(text: str) -> float:
    t = text.replace("_", "").lower()
    if t.endswith(".inf"):
        return float("-inf") if t[0] == "-" else float("inf")
    if t == ".nan":
        return float("nan")
    if ":" in t:
        return _sexagesimal(t, float)
    return float(t)


def _plain(value: str) -> Any:
    """Resolve an untagged plain scalar the way YAML 1.1 safe_load does (timestamps stay str)."""
    if value in _WORDS:
        return _WORDS[value]
    if value[0] in _NUMERIC_START:
        if _INT.match(value):
            return _to_int(value)
        if _FLOAT.match(value):
            return _to_float(value)
    return value


def _tagged(value: str, tag: str) -> Any:
    """Explicitly tagged scalars; unknown or non-JSON tags keep the text (never fail)."""
    try:
        if tag.endswith(":int"):
            return _to_int(value)
        if tag.endswith(":float"):
            return _to_float(value)
        if tag.endswith(":bool"):
            return bool(_WORDS.get(value, value))
        if tag.endswith(":null"):
            return None
    except (ValueError, IndexError):
        return value
    return value


def _scalar(ev: ScalarEvent) -> Any:
    tag = ev.tag
    if tag is None or tag == "!":
        if ev.implicit[0]:
            if ev.value == "<<":
                return _MERGE
            return _plain(ev.value)
        return ev.value
    return _tagged(ev.value, tag)


# --- the builder --------------------------------------------------------------------------


class _Abort(Exception):
    """Stop reading this file: the finding says why."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


class _Frame:
    """One open mapping or sequence while building a document."""

    __slots__ = ("anchor", "is_map", "key", "key_pos", "merges", "path", "size", "value")

    def __init__(self, value: Any, is_map: bool, path: tuple | None, anchor: str | None) -> None:
        self.value = value
        self.is_map = is_map
        self.path = path  # None inside a complex key: no positions are recorded there
        self.anchor = anchor
        self.key: Any = _UNSET
        self.key_pos: tuple[int, int] = (0, 0)
        self.merges: list[Any] = []
        self.size = 1


_UNSET = object()


def _hashable(key: Any) -> Any:
    if isinstance(key, (dict, list)):
        return str(key)
    return key


def _merge(mapping: dict, merges: list[Any]) -> dict:
    """Apply ``<<`` merge keys: explicit keys win, earlier merge sources win over later."""
    sources: list[dict] = []
    for value in merges:
        if isinstance(value, dict):
            sources.append(value)
        elif isinstance(value, list):
            sources.extend(v for v in value if isinstance(v, dict))
    merged: dict = {}
    for src in reversed(sources):
        merged.update(src)
    merged.update(mapping)
    return merged


def load_text(
    text: str | bytes, file: str, limits: LoadLimits = DEFAULT_LIMITS
) -> tuple[list[Document], list[Finding]]:
    """Every non-empty document of one file, with positions; problems become findings."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > limits.max_file_bytes:
        return [], [_R["FF105"].at_file(file, message=f"File is {len(raw):,} bytes, over the "
                                        f"{limits.max_file_bytes:,}-byte limit")]
    problem = _text_problem(raw, file)
    if problem is not None:
        return [], [problem]
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return _build(raw, file, limits)


def _text_problem(raw: bytes, file: str) -> Finding | None:
    """Binary content, bad UTF-8 and conflict markers are checked before parsing."""
    if b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        return _R["FF103"].at_file(file, line, message="Binary file (contains NUL bytes)")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        return _R["FF103"].at_file(
            file, line, column, message=f"Invalid UTF-8 byte 0x{raw[err.start]:02x}")
    if b"<<<<<<<" in raw or b">>>>>>>" in raw or b"=======" in raw:
        match = _CONFLICT.search(raw)
        if match is not None:
            line = raw.count(b"\n", 0, match.start()) + 1
            marker = match.group(0).strip().decode()
            return _R["FF104"].at_file(file, line, message=f"Git conflict marker {marker!r}")
    return None


def _syntax_finding(err: yaml.YAMLError, file: str, raw: bytes = b"") -> Finding:
    mark = getattr(err, "problem_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    line, column = _within(raw, line, column)
    opened = getattr(err, "context_mark", None)
    if context and opened is not None and opened.line + 1 < line:
        context += f" that starts at line {opened.line + 1}"
    if "maximum nesting depth" in problem:  # libyaml >= 0.2.5 stops at 1000 levels itself
        return _R["FF106"].at_file(file, line, column,
                                   message="Nesting deeper than the YAML parser allows "
                                   f"({problem})")
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    hint = None
    if "\\t" in problem or "tab" in problem:
        hint = "Indent with spaces: YAML does not allow tabs for indentation"
    return _R["FF101"].at_file(file, line, column, message=message, hint=hint)


def _within(raw: bytes, line: int, column: int) -> tuple[int, int]:
    """A parser mark clamped to the file: at end of stream PyYAML points one line past the last
    (after the final newline), which editors and code-scanning annotations cannot show."""
    if not raw:
        return 1, 1
    lines = raw.splitlines()
    if line <= len(lines):
        return line, column
    last = len(lines)
    return last, len(lines[-1].decode("utf-8", "replace")) + 1


def _build(raw: bytes, file: str, limits: LoadLimits) -> tuple[list[Document], list[Finding]]:
    documents: list[Document] = []
    findings: list[Finding] = []
    parser = _Parser(raw)
    get_event = parser.get_event
    check_event = parser.check_event
    index = -1
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Any, int]] = {}
    positions: dict[tuple, tuple[int, int]] = {}
    root: Any = None
    root_pos = (1, 1)
    alias_nodes = 0
    max_depth = limits.max_depth
    try:
        while check_event():
            ev = get_event()
            kind = type(ev)
            if kind is ScalarEvent or kind is AliasEvent:
                mark = ev.start_mark
                pos = (mark.line + 1, mark.column + 1)
                if kind is ScalarEvent:
                    text = ev.value
                    if ev.tag is None and ev.implicit[0] and text != "<<":
                        # the common case, inlined: a plain scalar as YAML 1.1 resolves it
                        if text in _WORDS:
                            value = _WORDS[text]
                        elif text and text[0] in _NUMERIC_START:
                            value = _plain(text)
                        else:
                            value = text
                    else:
                        value = _scalar(ev)
                    size = 1
                    if ev.anchor is not None:
                        anchors[ev.anchor] = (value, 1)
                else:
                    if ev.anchor not in anchors:
                        raise _Abort(_R["FF101"].at_file(
                            file, *pos, message=f"YAML syntax error: unknown alias *{ev.anchor}"))
                    value, size = anchors[ev.anchor]
                    alias_nodes += size
                    if alias_nodes > limits.max_alias_nodes:
                        raise _Abort(_R["FF106"].at_file(
                            file, *pos, message=f"Aliases expand to more than "
                            f"{limits.max_alias_nodes:,} values (alias bomb?)"))
                if not stack:
                    root, root_pos = value, pos
                    continue
                frame = stack[-1]
                frame.size += size
                if frame.is_map:
                    key = frame.key
                    if key is _UNSET:
                        frame.key = _hashable(value) if kind is AliasEvent else value
                        frame.key_pos = pos
                        continue
                    if key is _MERGE or key in frame.value:
                        _set(frame, value, positions, findings, file)  # merges, duplicates
                        continue
                    frame.key = _UNSET  # _set's common case, inlined
                    frame.value[key] = value
                    if frame.path is not None:
                        positions[(*frame.path, key)] = frame.key_pos
                else:
                    if frame.path is not None:
                        positions[(*frame.path, len(frame.value))] = pos
                    frame.value.append(value)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if len(stack) >= max_depth:
                    mark = ev.start_mark
                    raise _Abort(_R["FF106"].at_file(
                        file, mark.line + 1, mark.column + 1,
                        message=f"Nesting deeper than {max_depth} levels"))
                mark = ev.start_mark
                pos = (mark.line + 1, mark.column + 1)
                path: tuple | None
                if not stack:
                    path, root_pos = (), pos
                else:
                    parent = stack[-1]
                    if parent.path is None:
                        path = None
                    elif parent.is_map:
                        if parent.key is _UNSET:
                            path = None  # a complex key
                        else:
                            path = (*parent.path, parent.key)
                            positions[path] = parent.key_pos
                    else:
                        path = (*parent.path, len(parent.value))
                        positions[path] = pos
                is_map = kind is MappingStartEvent
                stack.append(_Frame({} if is_map else [], is_map, path, ev.anchor))
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                value = frame.value
                if frame.merges:
                    value = _merge(value, frame.merges)
                if frame.anchor is not None:
                    anchors[frame.anchor] = (value, frame.size)
                if not stack:
                    root = value
                    continue
                parent = stack[-1]
                parent.size += frame.size
                if parent.is_map:
                    if parent.key is _UNSET:
                        parent.key = _hashable(value)
                        parent.key_pos = root_pos
                        continue
                    _set(parent, value, positions, findings, file)
                else:
                    parent.value.append(value)
            elif kind is DocumentStartEvent:
                index += 1
                anchors = {}
                positions = {}
                root = None
                alias_nodes = 0
            elif kind is DocumentEndEvent and root is not None:
                positions[()] = root_pos
                documents.append(Document(file, index, *root_pos, root, positions))
    except yaml.YAMLError as err:
        findings.append(_syntax_finding(err, file, raw))
    except _Abort as stop:
        findings.append(stop.finding)
    except RecursionError:  # pragma: no cover - the builder is iterative; belt and braces
        findings.append(_R["FF106"].at_file(file, message="Nesting too deep to read"))
    finally:
        parser.dispose()
    return documents, findings


def _set(frame: _Frame, value: Any, positions: dict, findings: list[Finding], file: str) -> None:
    key = frame.key
    frame.key = _UNSET
    if key is _MERGE:
        frame.merges.append(value)
        return
    mapping = frame.value
    if key in mapping:
        line, col = frame.key_pos
        findings.append(_R["FF102"].at_file(
            file, line, col, message=f"Duplicate key {key!r} (Go YAML and kubectl reject it)"))
    mapping[key] = value
    if frame.path is not None:
        positions[(*frame.path, key)] = frame.key_pos


# --- the repository -----------------------------------------------------------------------


def _is_yaml(name: str) -> bool:
    """YAML by its suffix, or kustomize's third accepted name, ``Kustomization``."""
    return name.endswith(YAML_SUFFIXES) or name.rpartition("/")[2] == "Kustomization"


def _in_work_tree(root: Path) -> bool:
    """A ``.git`` in ``root`` or above: cheaper than asking git (a process) when there is none."""
    return any(os.path.lexists(os.path.join(d, ".git")) for d in (root, *root.parents))


class _GitListing:
    """``git ls-files`` running in the background, so the loader can parse while it runs."""

    ARGS = ("ls-files", "-z", "--cached", "--others", "--exclude-standard")

    def __init__(self, root: Path) -> None:
        # a file, not a pipe: git never waits for us to read, and poll() tells when it is done
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by result()
        try:
            self._proc = subprocess.Popen(["git", "-C", str(root), *self.ARGS],
                                          stdout=self._out, stderr=subprocess.DEVNULL,
                                          stdin=subprocess.DEVNULL)
        except OSError:
            self._out.close()
            raise

    @classmethod
    def start(cls, root: Path) -> _GitListing | None:
        """None outside a git work tree (or without git)."""
        if not _in_work_tree(root.absolute()):
            return None
        try:
            return cls(root)
        except OSError:
            return None

    def done(self) -> bool:
        return self._proc.poll() is not None

    def result(self) -> list[str] | None:
        """The YAML files git considers (tracked + untracked, not ignored); None if it failed
        (e.g. inside .git, or a repository git refuses to read)."""
        with self._out:
            if self._proc.wait() != 0:
                return None
            self._out.seek(0)
            raw = self._out.read()
        names = {p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p}
        return [n for n in names if _is_yaml(n)]


def _git_files(root: Path) -> list[str] | None:
    """Files git would consider (tracked + untracked, not ignored), or None outside a work tree."""
    listing = _GitListing.start(root)
    return listing.result() if listing is not None else None


def _unreadable(root: Path) -> Any:
    """os.walk's error handler: a folder that cannot be listed is a usage error (exit 2), not a
    silent gap in what was validated."""
    def handler(err: OSError) -> None:
        rel = os.path.relpath(err.filename, root) if err.filename else "."
        raise UserError(f"{rel.replace(os.sep, '/')}/: cannot read folder: {err.strerror}",
                        hint="make it readable by this user (chmod) or remove it from the "
                        "repository")
    return handler


def _walk(root: Path) -> Iterator[str]:
    # never follows directory links
    for dirpath, dirnames, filenames in os.walk(root, onerror=_unreadable(root)):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".hg", ".svn")]
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        yield from (prefix + f for f in filenames if _is_yaml(f))


def _walk_files(root: Path) -> list[str]:
    return list(_walk(root))


def _inside(root: Path, rel: str, real_root: str | None = None) -> bool:
    """False when ``rel`` (or a link on its way) resolves outside ``root``."""
    try:
        base = real_root or os.path.realpath(root)
        real = os.path.realpath(os.path.join(root, rel))
    except (OSError, ValueError):
        return False
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


class _Resolver:
    """Where repository paths really are, one ``lstat`` per file and per directory.

    ``realpath`` on every file costs a system call per path component; a fleet has a few
    hundred files in a few dozen folders, so folders are resolved once and remembered.
    """

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.real_root = os.path.realpath(root)
        self._prefix = self.real_root.rstrip(os.sep) + os.sep
        self._dirs: dict[str, str] = {"": self.real_root}
        self._placed: dict[str, tuple[bool, bool] | None] = {}

    def _real_dir(self, rel: str) -> str:
        known = self._dirs.get(rel)
        if known is None:
            parent, _, base = rel.rpartition("/")
            full = os.path.join(self.root, rel)
            known = (os.path.realpath(full) if os.path.islink(full)
                     else os.path.join(self._real_dir(parent), base))
            self._dirs[rel] = known
        return known

    def contains(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self._prefix)

    def place(self, rel: str) -> tuple[bool, bool] | None:
        """(is a regular file or a link to one, resolves inside the root); None: not a file."""
        if rel not in self._placed:
            self._placed[rel] = self._place(rel)
        return self._placed[rel]

    def _place(self, rel: str) -> tuple[bool, bool] | None:
        full = os.path.join(self.root, rel)
        try:
            mode = os.lstat(full).st_mode
        except OSError:
            return None  # tracked but deleted
        if stat.S_ISLNK(mode):
            return os.path.isfile(full), self.contains(os.path.realpath(full))
        if not stat.S_ISREG(mode):
            return None  # a directory named *.yaml, a FIFO, ...
        return True, self.contains(self._real_dir(rel.rpartition("/")[0]))


def _place_all(root: Path, names: Iterable[str],
               where: _Resolver | None = None) -> tuple[list[str], list[str]]:
    """(files to read, links out of the repository), sorted."""
    keep: list[str] = []
    outside: list[str] = []
    where = where or _Resolver(root)
    for name in names:
        placed = where.place(name)
        if placed is None:
            continue
        is_file, inside = placed
        if not inside:
            outside.append(name)
        elif is_file:
            keep.append(name)
    return sorted(keep), sorted(outside)


def _discover(root: Path) -> tuple[list[str], list[str]]:
    names = _git_files(root)
    return _place_all(root, _walk_files(root) if names is None else names)


def discover(root: Path) -> list[str]:
    """Repository-relative POSIX paths of the YAML files to validate, sorted.

    Honours .gitignore when ``root`` is in a git work tree; never returns a file whose path
    resolves outside ``root`` (symlinks out of the repository are not read).
    """
    return _discover(Path(root))[0]


@dataclass
class _Read:
    """One file read and parsed (or why not)."""

    documents: list[Document]
    findings: list[Finding]
    size: int | None  # None: not read


def _read(base: str, name: str, limits: LoadLimits) -> _Read:
    try:
        with open(os.path.join(base, name), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limits.max_file_bytes:
                return _Read([], [_R["FF105"].at_file(
                    name, message=f"File is {size:,} bytes, over the "
                    f"{limits.max_file_bytes:,}-byte limit")], None)
            raw = fh.read()
    except OSError as err:
        return _Read([], [_R["FF103"].at_file(
            name, message=f"Cannot read file: {err.strerror}")], None)
    return _Read(*load_text(raw, name, limits), len(raw))


def _speculate(root: Path, listing: _GitListing, limits: LoadLimits,
               where: _Resolver) -> dict[str, _Read]:
    """Parse the files a walk finds while git lists them; stop as soon as git is done.

    Asking git costs a process (about 1.5 ms), as much as parsing a small fleet; this hides it.
    What git then says is ignored is dropped unseen, and the waste is bounded by git's own
    run time. Files are placed first, so a link out of the repository is never read.
    """
    parsed: dict[str, _Read] = {}
    base = str(root)
    try:
        for name in _walk(root):
            if listing.done():
                break
            placed = where.place(name)
            if placed == (True, True):
                parsed[name] = _read(base, name, limits)
    except UserError:
        pass  # git decides what is listed; an unreadable file it lists is an FF103 finding
    return parsed


def load_tree(
    root: Path, files: Iterable[str] | None = None, limits: LoadLimits = DEFAULT_LIMITS
) -> LoadResult:
    """Read and parse every YAML file of the repository exactly once."""
    root = Path(root)
    findings: list[Finding] = []
    discovered: list[str] | None = None
    parsed: dict[str, _Read] = {}
    if files is None:
        listing = _GitListing.start(root)
        listed = None
        where = _Resolver(root)
        if listing is not None:
            parsed = _speculate(root, listing, limits, where)
            listed = listing.result()
        names, outside = _place_all(root, _walk_files(root) if listed is None else listed,
                                    where)
        discovered = names
    else:
        names, outside = [], []
        real_root = os.path.realpath(root)
        for name in files:
            (names if _inside(root, name, real_root) else outside).append(name)
    findings.extend(
        _R["FF107"].at_file(name, message=f"Symlink points outside the repository: "
                            f"{os.readlink(root / name) if (root / name).is_symlink() else name}")
        for name in outside)
    documents: list[Document] = []
    total = 0
    read: list[str] = []
    base = str(root)
    for name in names:
        one = parsed.get(name) or _read(base, name, limits)
        findings.extend(one.findings)
        if one.size is None:
            continue
        total += one.size
        read.append(name)
        documents.extend(one.documents)
    return LoadResult(documents, findings, files=len(read), bytes=total, paths=read,
                      discovered=discovered)
