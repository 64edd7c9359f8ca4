"""The one Copier wrapper: copy, update and answers, with the traps Copier leaves open closed.

Copier's ``update`` exits 0 when it leaves conflicts behind (inline markers, ``.rej`` files,
unmerged index entries); ``find_conflicts`` looks for all three so no half-merged file goes
unreported. Answer changes are passed as data (Copier's ``--data-file``), never by editing
``.copier-answers.yml``: Copier diffs the old answers' render against the new one, and a
hand-edited answers file silently breaks that diff.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flux_fleet import progress
from flux_fleet.errors import ToolError, UserError
from flux_fleet.scaffold import git

ANSWERS_FILE = ".copier-answers.yml"

# Answers that Copier computes from the others (`when: false`); never passed back as data.
COMPUTED = frozenset({"envs", "tenant_specs", "cluster_specs", "tenant_overlays"})

_MARKER = re.compile(rb"^(<{7} |>{7} |={7}$)", re.MULTILINE)


class CopierError(ToolError):
    """Copier failed for a reason that is not the user's input (template broken, git failure)."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__("copier", ["copier", what], 1, detail)


@dataclass(frozen=True)
class Conflicts:
    """Files an update left half-merged: inline markers, .rej files, unmerged index entries."""

    markers: tuple[str, ...] = ()
    rejects: tuple[str, ...] = ()
    unmerged: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.markers or self.rejects or self.unmerged)

    def files(self) -> list[str]:
        """Every conflicted file once (a .rej names the file it belongs to)."""
        rej = [r[: -len(".rej")] for r in self.rejects]
        return sorted({*self.markers, *rej, *self.unmerged})

    def lines(self) -> list[str]:
        out = [f"{f}: conflict markers (<<<<<<< / >>>>>>>) left in the file" for f in self.markers]
        out += [f"{r}: rejected hunk (Copier could not apply the template change)"
                for r in self.rejects]
        out += [f"{f}: unmerged in the git index" for f in self.unmerged
                if f not in self.markers]
        return out


def read_answers(root: Path) -> dict[str, Any]:
    """The fleet's ``.copier-answers.yml`` as a dict (UserError when missing or not a mapping)."""
    path = root / ANSWERS_FILE
    if not path.is_file():
        raise UserError(f"{path}: no Copier answers file; {root} was not rendered by flux-fleet",
                        hint=f"render a fleet with `flux-fleet new {root}`, or pass --dir FLEET")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: answers file is not valid YAML",
                        hint=f"restore it with `git -C {root} checkout -- {ANSWERS_FILE}`") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: answers file is not a mapping",
                        hint=f"restore it with `git -C {root} checkout -- {ANSWERS_FILE}`")
    return data


def user_answers(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers a user gave (no ``_commit``/``_src_path``, no computed values)."""
    return {k: v for k, v in answers.items() if not k.startswith("_") and k not in COMPUTED}


def _translate(exc: Exception, what: str) -> Exception:
    """Copier's errors, shaped for the reader: bad answers are the user's, the rest a tool's."""
    from copier.errors import InteractiveSessionError, UnsafeTemplateError, UserMessageError

    text = str(exc).strip()
    if isinstance(exc, InteractiveSessionError):
        return UserError("copier needs answers but there is no terminal to ask them",
                         hint="pass --defaults and/or --data KEY=VALUE")
    if isinstance(exc, UnsafeTemplateError):
        return UserError(f"the template needs trust for {what}: {text.splitlines()[0]}",
                         hint="review the template's _migrations/_tasks, then rerun with --trust")
    if isinstance(exc, UserMessageError):
        return UserError(f"copier {what}: {text.splitlines()[0] if text else type(exc).__name__}",
                         hint="see the message above; `flux-fleet check-update` lists versions")
    if isinstance(exc, ValueError) and "Validation error for question" in text:
        first, *rest = text.splitlines()
        return UserError(first.rstrip(":"), problems=rest,
                         hint="fix the value and rerun; `flux-fleet new --help` lists the answers")
    if isinstance(exc, ValueError) and text.startswith("Unknown revision"):
        return UserError(f"copier {what}: the template has no {text[len('Unknown '):]}",
                         hint="the fleet's _commit is not in the template repository (rendered "
                              "from an uncommitted checkout?); move it to a tag with "
                              "`flux-fleet update --to vX.Y.Z`")
    return CopierError(what, f"{type(exc).__name__}: {text}")


@contextmanager
def _faster_copier() -> Iterator[None]:
    """Three per-file costs of Copier 9.x removed for one run, with the same output.

    - Every templated path part (a ``{% yield %}`` folder's files: once per tenant), the answers
      file's path (once per rendered path) and every computed answer is compiled by
      ``jinja_env.from_string`` on each use: 5,871 compiles for a 5 x 100 ``tenant add``. A
      compiled template renders any context, so each distinct source is compiled once per
      environment; the yield context that Copier's ``YieldExtension.preprocess`` resets on each
      compile is reset the same way before each reuse.
    - ``yaml`` answers (the tenant list, the computed tenant and cluster specs) are parsed with
      PyYAML's pure-Python ``safe_load``; libyaml's ``CSafeLoader`` builds the same values with
      the same safe constructor, several times faster.
    - Before syncing a rendered file's executable bit into the destination's git index, Copier
      runs ``git config core.fileMode`` for every file (713 of the 789 git processes of that
      ``tenant add``). The index is only touched when the setting is ``false``, which cannot
      change during one run, so git is asked once per destination.
    """
    from copier import _user_data
    from copier._jinja_ext import SandboxedEnvironment, get_yield_context
    from copier._main import Worker

    sync_bit = Worker._sync_git_index_executable_bit
    from_string = SandboxedEnvironment.from_string
    parse_yaml = _user_data.parse_yaml_string
    answers: dict[Path, bool] = {}
    compiled: dict[tuple[int, str], tuple[Any, Any]] = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def sync(self: Any, dst_relpath: Path, src_mode: int) -> None:
        root = Path(self.subproject.local_abspath)
        if root not in answers:
            out = git.run(["config", "--type=bool", "--get", "core.fileMode"], root, check=False)
            answers[root] = out.strip() == "false"
        if answers[root]:
            sync_bit(self, dst_relpath, src_mode)

    def compile_once(env: Any, source: Any, globals: Any = None,
                     template_class: Any = None) -> Any:
        if globals is not None or template_class is not None or not isinstance(source, str):
            return from_string(env, source, globals, template_class)
        key = (id(env), source)
        hit = compiled.get(key)
        if hit is None:
            hit = compiled[key] = (env, from_string(env, source))
        else:
            ctx = get_yield_context(env)
            ctx.yield_name = None
            ctx.yield_iterable = None
        return hit[1]

    def parse_yaml_string(string: str) -> Any:
        try:
            return yaml.load(string, Loader=loader)  # a safe loader
        except yaml.error.YAMLError as error:
            raise ValueError(str(error)) from None

    Worker._sync_git_index_executable_bit = sync  # type: ignore[method-assign]
    SandboxedEnvironment.from_string = compile_once  # type: ignore[method-assign]
    _user_data.parse_yaml_string = parse_yaml_string
    _user_data.CAST_STR_TO_NATIVE["yaml"] = parse_yaml_string
    try:
        yield
    finally:
        Worker._sync_git_index_executable_bit = sync_bit  # type: ignore[method-assign]
        SandboxedEnvironment.from_string = from_string  # type: ignore[method-assign]
        _user_data.parse_yaml_string = parse_yaml
        _user_data.CAST_STR_TO_NATIVE["yaml"] = parse_yaml


def copy(src: str, dest: Path, data: Mapping[str, Any], vcs_ref: str | None = None,
         *, unsafe: bool = False, defaults: bool = True, quiet: bool = True,
         exclude: Iterable[str] = ()) -> None:
    """``copier copy`` of ``src`` at ``vcs_ref`` into ``dest`` with ``data``.

    With ``defaults`` (every caller but an interactive ``flux-fleet new``) copier asks
    nothing and its output is kept off the terminal. ``exclude``: more gitignore-style
    patterns of destination paths not to render (on top of the template's ``_exclude``).
    """
    import copier

    progress.phase("copier: rendering the template")
    try:
        with warnings.catch_warnings():  # rendering a checkout's working tree is intended
            warnings.simplefilter("ignore", copier.errors.DirtyLocalWarning)
            with redirect_stdout(io.StringIO()) if defaults else nullcontext(), \
                    _faster_copier():
                copier.run_copy(src, dest, data=dict(data), vcs_ref=vcs_ref, defaults=defaults,
                                overwrite=True, quiet=quiet, unsafe=unsafe,
                                exclude=list(exclude))
    except Exception as exc:  # copier raises many types; each becomes ours
        raise _translate(exc, "copy") from exc


def update(root: Path, data: Mapping[str, Any], vcs_ref: str | None,
           *, unsafe: bool = False) -> Conflicts:
    """``copier update --defaults --conflict inline`` with ``data``; returns what it left behind.

    ``vcs_ref`` None means the template's latest tag; the fleet's own ``_commit`` keeps the
    template version and only applies the changed answers (tenant/cluster add and remove).
    """
    import copier

    progress.phase("copier: updating the fleet (the old version and the new one are rendered "
                   "and merged)")
    try:
        with redirect_stdout(io.StringIO()), _faster_copier():
            copier.run_update(root, data=dict(data), vcs_ref=vcs_ref, defaults=True,
                              overwrite=True, quiet=True, conflict="inline", unsafe=unsafe)
    except Exception as exc:
        raise _translate(exc, "update") from exc
    return find_conflicts(root)


def find_conflicts(root: Path) -> Conflicts:
    """Conflicts Copier may leave in a work tree that was clean before the update.

    Paths are relative to the git work tree's top (as ``git status`` reports them).
    """
    top = git.toplevel(root) or root
    status = git.status(root)
    ignored = git.run(["status", "--porcelain", "--ignored", "--untracked-files=all"], root)
    rej = {line[3:] for line in ignored.splitlines() if line.endswith(".rej")}
    rej |= {p for p in status.untracked if p.endswith(".rej")}
    candidates: Iterable[str] = {*status.changed, *status.untracked, *status.unmerged}
    markers = [p for p in sorted(candidates)
               if not p.endswith(".rej") and _has_markers(top / p)]
    return Conflicts(markers=tuple(markers), rejects=tuple(sorted(rej)),
                     unmerged=tuple(git.unmerged_paths(root)))


def _has_markers(path: Path) -> bool:
    try:
        blob = path.read_bytes()
    except (IsADirectoryError, FileNotFoundError, PermissionError):
        return False
    found = {m.group(1)[:1] for m in _MARKER.finditer(blob)}
    return {b"<", b">"} <= found
