"""Answer-only changes (tenant/cluster add and remove, sources) rendered where they change.

``copier update`` at the fleet's own template version renders the whole fleet three times (the
old answers, the new answers into the fleet, the new answers again in a clean folder) and then
replays the user's edits as a patch. When the template version does not move, the result on
every file the user did not edit is simply the new answers' render (Copier's
``_apply_update``: the fleet is overwritten with the new render, the diff *old render -> fleet*
is applied on top and is empty there, files only in the old render are removed, existing
``_skip_if_exists`` files are kept). So this module renders the old and the new answers once
each, leaving out the per-tenant folders the change cannot touch, and takes the new render
wherever the fleet still holds the old one. Where the user edited an affected file (a 3-way
merge, maybe conflicts) it gives up and the caller runs the full ``copier update``.

A tenant's folder (``tenants/base/<name>/``) is left out only when the template files there can
be shown to read nothing but that tenant's own entry and unchanged answers (a static check of
the template text at the fleet's version), so an older or newer template that lists other
tenants there is rendered in full.
"""

from __future__ import annotations

import re
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flux_fleet import forked, progress
from flux_fleet.scaffold import copier_run, git
from flux_fleet.scaffold.copier_run import ANSWERS_FILE

TENANT_DIR = ("template/platform/tenants/base/"
              "{% yield tenant from tenant_specs %}{{ tenant.name }}{% endyield %}/")
# Fields of tenant_specs that copier.yml computes from the tenant's own entry alone; `paths` and
# `clusters` also read the cluster list (the defaults).
_ENTRY_FIELDS = frozenset({"name", "namespace", "namespaces", "branch", "repo_url", "role"})
_LISTS = re.compile(r"(?<![\w.])(tenants|tenant_specs|cluster_specs|clusters|envs|"
                    r"tenant_overlays)(?!\w)")
_ATTR = re.compile(r"(?<![\w.])tenant\.(\w+)")
_BARE = re.compile(r"(?<![\w.])tenant(?![\w.])")
_INCLUDES = re.compile(r"{%-?\s*(import|include|from|extends)\b")
_JINJA = re.compile(r"{{.*?}}|{%.*?%}", re.DOTALL)
_DELIMITERS = ("block_start_string", "block_end_string", "variable_start_string",
               "variable_end_string", "line_statement_prefix", "line_comment_prefix")
_ANSWERS_WITH_SPECS = frozenset({"tenants", "clusters"})


@dataclass(frozen=True)
class TenantFolder:
    """What the template's per-tenant files read: whether leaving a folder out is safe."""

    present: bool  # the template has the per-tenant folder at the expected path
    self_contained: bool  # reads no list of tenants/clusters, no macro file
    entry_only: bool  # reads only tenant fields computed from the tenant's own entry


def tenant_folder(files: Mapping[str, str]) -> TenantFolder:
    """Classify the per-tenant template files (path -> text) by what they can read."""
    mine = {p: t for p, t in files.items() if p.startswith(TENANT_DIR)}
    if not mine:
        return TenantFolder(False, False, False)
    # only what Jinja evaluates (default delimiters; `apply` refuses templates that change them)
    texts = [" ".join(_JINJA.findall(t)) for t in mine.values()]
    contained = not any(_LISTS.search(t) or _INCLUDES.search(t) for t in texts)
    attrs = {m.group(1) for t in texts for m in _ATTR.finditer(t)}
    bare = any(_BARE.search(_ATTR.sub("", t)) for t in texts)
    return TenantFolder(True, contained, contained and not bare and attrs <= _ENTRY_FIELDS)


def exclusions(folder: TenantFolder, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Copier ``exclude`` patterns for the tenant folders that render the same before and after.

    Empty (render every tenant) when another answer changed, when the cluster list changed and
    the tenant files read cluster-derived fields, or when most tenants changed anyway.
    """
    changed_keys = {k for k in {*old, *new} if old.get(k) != new.get(k)}
    if not folder.self_contained or not changed_keys <= _ANSWERS_WITH_SPECS:
        return []
    if "clusters" in changed_keys and not folder.entry_only:
        return []
    before = _by_name(old.get("tenants"))
    after = _by_name(new.get("tenants"))
    if before is None or after is None:
        return []
    touched = sorted(n for n in {*before, *after} if before.get(n) != after.get(n))
    if not all(re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", n) for n in touched):
        return []
    if len(touched) * 2 > len(after) + 1:
        return []
    # gitignore semantics (pathspec): the last matching pattern wins
    return ["/tenants/base/*/", *(f"!/tenants/base/{n}/" for n in touched)]


def _by_name(entries: Any) -> dict[str, Any] | None:
    if not isinstance(entries, list):
        return None
    out: dict[str, Any] = {}
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or e["name"] in out:
            return None
        out[e["name"]] = e
    return out


def template_files(src: str, ref: str, prefix: str) -> tuple[dict[str, str], str] | None:
    """(text of the template files under ``prefix``, copier.yml) at ``ref``; None if remote."""
    if not Path(src).is_dir():
        return None
    try:
        names = git.run(["ls-tree", "-r", "-z", "--name-only", ref, "--", prefix], src)
        config = git.run(["show", f"{ref}:copier.yml"], src)
    except git.GitError:
        return None
    out = {}
    for name in filter(None, names.split("\0")):
        out[name] = git.run(["show", f"{ref}:{name}"], src)
    return out, config


def skip_matcher(config_text: str) -> Callable[[str], bool] | None:
    """Copier's ``_skip_if_exists`` as a matcher; None when it needs Jinja (not handled here).

    Matched as Copier matches it (``copier._main``: patterns normalised to NFD, pathspec's
    "gitignore" flavour from pathspec 1.0, "gitwildmatch" before), without importing Copier:
    the renders import it in their own processes (``_render_both``), this one never needs it.
    """
    from importlib.metadata import version
    from unicodedata import normalize

    from pathspec import PathSpec

    config = yaml.safe_load(config_text) or {}
    patterns = config.get("_skip_if_exists") or [] if isinstance(config, dict) else []
    if isinstance(patterns, str):
        patterns = [patterns]
    if not all(isinstance(p, str) and "{" not in p for p in patterns):
        return None
    if isinstance(config, dict) and (config.get("_tasks") or config.get("_migrations")):
        return None
    envops = config.get("_envops") if isinstance(config, dict) else None
    if isinstance(envops, dict) and any(k in envops for k in _DELIMITERS):
        return None  # tenant_folder reads the default Jinja delimiters
    major = version("pathspec").split(".", 1)[0]
    flavour = "gitignore" if major.isdigit() and int(major) >= 1 else "gitwildmatch"
    spec = PathSpec.from_lines(flavour, (normalize("NFD", p) for p in patterns))
    return spec.match_file


def _files(root: Path) -> dict[str, Path] | None:
    """Rendered files by relative path; None when there is a symlink (left to Copier)."""
    out: dict[str, Path] = {}
    for p in root.rglob("*"):
        if p.is_symlink():
            return None
        if p.is_file():
            out[p.relative_to(root).as_posix()] = p
    return out


def _exec(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def _holds(path: Path, rendered: Path | None) -> bool:
    """Whether the fleet's ``path`` is exactly what was rendered there (or both absent)."""
    if rendered is None:
        return not (path.exists() or path.is_symlink())
    return (path.is_file() and not path.is_symlink() and _exec(path) == _exec(rendered)
            and path.read_bytes() == rendered.read_bytes())


@dataclass(frozen=True)
class Rendered:
    """The old answers' render (the pristine copy of every affected file) and what was applied."""

    old: Path
    written: tuple[str, ...]
    deleted: tuple[str, ...]


def apply(src: str, ref: str, old: Mapping[str, Any], new: Mapping[str, Any], fleet_root: Path,
          clone_root: Path, tmp: Path, meanwhile: Callable[[], object] | None = None,
          ) -> Rendered | None:
    """Bring ``clone_root`` to what ``copier update`` with ``new`` would make of it, or None.

    ``fleet_root`` (the user's work tree: ignored files included) and ``clone_root`` (its HEAD,
    answers pointing at ``src``) must hold the same tracked files. None: a case for the full
    update (an edited or missing affected file, a file in the way, a symlink, a remote template,
    templated ``_skip_if_exists``, tasks or migrations). ``meanwhile``: work of the caller's
    to do while the two renders run.
    """
    found = template_files(src, ref, "template/platform/tenants/base/")
    if found is None:
        return None
    files, config = found
    skip = skip_matcher(config)
    if skip is None:
        return None
    exclude = exclusions(tenant_folder(files), old, new)
    old_dir, new_dir = tmp / "old-answers", tmp / "new-answers"
    _render_both(src, ref, (old, old_dir), (new, new_dir), exclude, meanwhile)
    before, after = _files(old_dir), _files(new_dir)
    if before is None or after is None:
        return None
    writes: list[str] = []
    deletes: list[str] = []
    for rel in sorted(before.keys() | after.keys()):
        if rel == ANSWERS_FILE:  # Copier writes it from the new answers, edits or not
            writes.append(rel)
            continue
        if rel in after and skip(rel) and ((fleet_root / rel).exists()
                                           or (fleet_root / rel).is_symlink()):
            continue  # _skip_if_exists: Copier keeps the fleet's file
        if not _holds(clone_root / rel, before.get(rel)):
            return None
        if rel not in before and ((fleet_root / rel).exists() or (fleet_root / rel).is_symlink()):
            return None  # an untracked or ignored file in the way
        if rel not in after:
            deletes.append(rel)
        elif not _holds(clone_root / rel, after[rel]):
            writes.append(rel)
    _write(clone_root, after, writes, deletes)
    return Rendered(old_dir, tuple(writes), tuple(deletes))


def _render_both(src: str, ref: str, old: tuple[Mapping[str, Any], Path],
                 new: tuple[Mapping[str, Any], Path], exclude: Sequence[str],
                 meanwhile: Callable[[], object] | None = None) -> None:
    """Both renders at once, each in a forked child (``forked``), while this process does
    ``meanwhile`` (the caller's next step that needs neither: importing the validator);
    a render whose child cannot run or fails is done again here, so its error is raised as
    in a render in series."""
    progress.phase("copier: rendering the template (old and new answers)")
    renders = [(answers, dest, forked.start(
        lambda answers=answers, dest=dest: copier_run.copy(src, dest, answers, ref,
                                                           exclude=exclude)))
               for answers, dest in (old, new)]
    try:
        if meanwhile is not None:
            meanwhile()
        failed = [(answers, dest) for answers, dest, child in renders
                  if child is None or not child.wait()]
    except BaseException:
        for _, _, child in renders:
            if child is not None:
                child.kill()
        raise
    for answers, dest in failed:
        shutil.rmtree(dest, ignore_errors=True)
        copier_run.copy(src, dest, answers, ref, exclude=exclude)


def _write(root: Path, rendered: Mapping[str, Path], writes: Sequence[str],
           deletes: Sequence[str]) -> None:
    for rel in deletes:
        target = root / rel
        target.unlink()
        parent = target.parent
        while parent != root and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    for rel in writes:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rendered[rel].read_bytes())
        target.chmod(0o755 if _exec(rendered[rel]) else 0o644)
