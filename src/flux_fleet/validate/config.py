"""Validation settings: command-line options over a config file over defaults.

The config file lives at the repository root: ``.flux-fleet.yaml``, or a ``[tool.flux-fleet]``
table in ``pyproject.toml`` (the YAML file wins when both exist). Every key has the name of its
command-line option. A bad file is a located ``UserError`` (exit 2), never a silent default.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from flux_fleet.errors import UserError
from flux_fleet.validate.reconcile import ROOT_SOURCE_KINDS, DeclaredSync, SourceKey, repo_path

CONFIG_YAML = ".flux-fleet.yaml"
PYPROJECT = "pyproject.toml"


@dataclass(frozen=True)
class Config:
    """Everything that changes what ``flux-fleet validate`` reports.

    ``select`` and ``ignore`` hold rule codes or code prefixes (``FF4`` = every FF4xx rule),
    as ruff does. ``strict`` makes warnings fail the run and unknown kinds findings.
    """

    select: tuple[str, ...] = ()  # empty = every rule
    ignore: tuple[str, ...] = ()
    strict: bool = False
    tenant: bool = False  # validate as a tenant repository (nothing cluster-scoped)
    allowed_source_prefixes: tuple[str, ...] = ()  # URLs tenants' sources may point at
    exclude: tuple[str, ...] = ()  # glob patterns of repository-relative files to skip
    kubeconform: bool = False
    build: bool = True  # False: no kustomize builds (schema and rules over the files only)
    jobs: int = 0  # parallel kustomize builds; 0 = number of CPUs
    sync: tuple[DeclaredSync, ...] = ()  # sync roots no manifest here declares (OCI pushes)
    source: str = ""  # where the settings came from, for messages

    def enabled(self, code: str) -> bool:
        """Whether findings of rule ``code`` are reported (most specific prefix wins)."""
        selected = _longest_prefix(code, self.select) if self.select else 0
        if self.select and not selected:
            return False
        ignored = _longest_prefix(code, self.ignore)
        return not ignored or selected > ignored

    def excluded(self, file: str) -> bool:
        return any(fnmatch.fnmatchcase(file, pat) or fnmatch.fnmatchcase(file, pat.rstrip("/")
                   + "/*") for pat in self.exclude)

    @property
    def build_jobs(self) -> int:
        return self.jobs if self.jobs > 0 else max(1, os.cpu_count() or 1)


def _longest_prefix(code: str, prefixes: Iterable[str]) -> int:
    return max((len(p) for p in prefixes if code.startswith(p)), default=0)


_LIST_KEYS = ("select", "ignore", "allowed_source_prefixes", "exclude")
_BOOL_KEYS = ("strict", "tenant", "kubeconform", "build")
_KNOWN = {f.name for f in fields(Config)} - {"source"}


def _key(name: str) -> str:
    """Accept both ``allowed-source-prefixes`` and ``allowed_source_prefixes``."""
    return name.replace("-", "_")


def parse_settings(raw: Any, where: str, locate: Any = None) -> dict[str, Any]:
    """Check and normalise a settings mapping; every problem names the file and the key.

    ``locate(key)`` returns a ``file:line`` prefix for a key when the format has positions.
    """
    def at(key: str) -> str:
        return locate(key) if locate is not None else f"{where}: {key}"

    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise UserError(f"{where}: the settings must be a mapping of option: value",
                        hint="write e.g. 'ignore: [FF402]' at the top level")
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in raw.items():
        key = _key(str(name))
        if key not in _KNOWN:
            problems.append(f"{at(str(name))}: unknown setting {name!r} (known: "
                            f"{', '.join(sorted(_KNOWN))})")
        elif key in _LIST_KEYS:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"{at(str(name))}: must be a list of strings")
            else:
                out[key] = tuple(value)
        elif key in _BOOL_KEYS:
            if not isinstance(value, bool):
                problems.append(f"{at(str(name))}: must be true or false, not {value!r}")
            else:
                out[key] = value
        elif key == "sync":
            entries = _sync_entries(value, str(name), at, problems)
            if entries is not None:
                out[key] = entries
        elif key == "jobs":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{at(str(name))}: must be a whole number >= 0, not {value!r}")
            else:
                out[key] = value
    if problems:
        raise UserError(f"invalid configuration in {where}", problems=problems,
                        hint="fix or remove the settings listed above (see docs/validate.md)")
    return out


_SYNC_KEYS = ("path", "source", "folder", "ignore")


def _sync_entries(value: Any, name: str, at: Any, problems: list[str]
                  ) -> tuple[DeclaredSync, ...] | None:
    """``sync:`` entries: where a cluster starts reconciling this repository, for fleets whose
    manifests do not say (e.g. CI pushes ``kubernetes/`` as an OCI artifact)."""
    if not isinstance(value, list):
        problems.append(f"{at(name)}: must be a list of {{path, source, folder, ignore}} "
                        "mappings")
        return None
    out = []
    for i, entry in enumerate(value):
        where = at((name, i))
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: must be a mapping with at least 'path'")
            continue
        unknown = sorted(str(k) for k in entry if k not in _SYNC_KEYS)
        if unknown:
            problems.append(f"{where}: unknown key {', '.join(unknown)} (known: "
                            f"{', '.join(_SYNC_KEYS)})")
            continue
        path, folder = entry.get("path"), entry.get("folder", ".")
        if not isinstance(path, str) or not path.strip():
            problems.append(f"{where}: 'path' (the root Kustomization's spec.path inside the "
                            "source) is required")
            continue
        if not isinstance(folder, str) or folder.startswith("/") or ".." in folder.split("/"):
            problems.append(f"{where}: 'folder' must be a folder of this repository, "
                            f"relative to its root, not {folder!r}")
            continue
        source = _source_key(entry.get("source", "GitRepository/flux-system"))
        if source is None:
            problems.append(f"{where}: 'source' must be Kind/name or Kind/namespace/name with "
                            f"Kind one of {', '.join(sorted(ROOT_SOURCE_KINDS))}, not "
                            f"{entry.get('source')!r}")
            continue
        ignore = entry.get("ignore")
        if isinstance(ignore, list) and all(isinstance(p, str) for p in ignore):
            ignore = "\n".join(ignore)
        if ignore is not None and not isinstance(ignore, str):
            problems.append(f"{where}: 'ignore' must be gitignore patterns (a string or a list "
                            "of strings)")
            continue
        pos = re.search(r":(\d+):\d+$", where)
        out.append(DeclaredSync(path, source, repo_path(folder), ignore,
                                int(pos.group(1)) if pos else 1))
    return tuple(out)


def _source_key(value: Any) -> SourceKey | None:
    if not isinstance(value, str):
        return None
    parts = value.strip().split("/")
    if len(parts) == 2:
        parts = [parts[0], "flux-system", parts[1]]
    if len(parts) != 3 or parts[0] not in ROOT_SOURCE_KINDS or not all(parts):
        return None
    return SourceKey(*parts)


def _from_yaml(path: Path, rel: str) -> dict[str, Any]:
    from flux_fleet.validate.loader import (
        load_text,  # the validator's own fast loader, with positions
    )

    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {rel}: {err.strerror}") from err
    docs, problems = load_text(raw, rel)
    if problems:
        first = problems[0]
        raise UserError(f"{first.file}:{first.line}:{first.column}: {first.message}",
                        hint=first.hint or "fix the YAML of the config file")
    if not docs:
        return {}
    if len(docs) > 1:
        raise UserError(f"{rel}:{docs[1].line}:{docs[1].column}: a second YAML document: the "
                        "config file holds one mapping of settings",
                        hint="merge the documents into one (remove the '---' line)")
    doc = docs[0]

    def locate(key: str | tuple[Any, ...]) -> str:
        line, col = doc.locate(key if isinstance(key, tuple) else (key,))
        return f"{rel}:{line}:{col}"

    return parse_settings(doc.data, rel, locate)


def _from_pyproject(path: Path, rel: str) -> dict[str, Any] | None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {rel}: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{rel}: invalid TOML: {err}",
                        hint="fix the TOML syntax at the reported line") from err
    tool = data.get("tool")
    if not isinstance(tool, dict) or "flux-fleet" not in tool:
        return None
    where = f"{rel} [tool.flux-fleet]"
    return parse_settings(tool["flux-fleet"], where,
                          lambda key: f"{rel}: tool.flux-fleet."
                          + (".".join(map(str, key)) if isinstance(key, tuple) else key))


def _regular(path: Path, root: Path, rel: str) -> bool:
    """Whether a config file is there; one that is a folder, a FIFO, a device or a link out
    of the repository is an error (never opened), not a file to ignore."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as err:
        raise UserError(f"{rel}: cannot read: {err.strerror}",
                        hint=f"make {rel} a readable file or remove it") from err
    if stat.S_ISLNK(mode):
        real, base = os.path.realpath(path), os.path.realpath(root)
        if not real.startswith(base.rstrip(os.sep) + os.sep):
            raise UserError(f"{rel}:1:1: is a symlink to outside the repository; not read",
                            hint=f"make {rel} a regular file in the repository")
        try:
            mode = os.stat(real).st_mode
        except OSError:
            mode = 0
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file (FIFO, device, ...)"
        raise UserError(f"{rel}:1:1: is {what}: the config file must be a YAML file",
                        hint=f"replace {rel} by a file holding one mapping of settings, or "
                        "remove it")
    return True


def load_config(root: Path) -> Config:
    """Settings from the repository's config file, or defaults when there is none."""
    root = Path(root)
    yaml_path = root / CONFIG_YAML
    if _regular(yaml_path, root, CONFIG_YAML):
        return replace(Config(**_from_yaml(yaml_path, CONFIG_YAML)), source=CONFIG_YAML)
    toml_path = root / PYPROJECT
    if toml_path.is_file():
        settings = _from_pyproject(toml_path, PYPROJECT)
        if settings is not None:
            return replace(Config(**settings), source=f"{PYPROJECT} [tool.flux-fleet]")
    return Config()


@dataclass
class Overrides:
    """Command-line options; None / empty means "not given, keep the file's value"."""

    select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    strict: bool | None = None
    tenant: bool | None = None
    kubeconform: bool | None = None
    build: bool | None = None
    jobs: int | None = None


def merge(config: Config, cli: Overrides) -> Config:
    """Command-line options win; --ignore adds to the file's ignore list (like ruff's)."""
    changes: dict[str, Any] = {}
    if cli.select:
        changes["select"] = tuple(cli.select)
    if cli.ignore:
        changes["ignore"] = (*config.ignore, *cli.ignore)
    for name in ("strict", "tenant", "kubeconform", "build", "jobs"):
        value = getattr(cli, name)
        if value is not None:
            changes[name] = value
    return replace(config, **changes)


def check_tenancy(file_config: Config, config: Config, known: Iterable[str]) -> None:
    """Under --tenant the repository's own config may not switch tenancy rules (FF5xx) off:
    the repository is the one being checked, so its config is trusted no further than it."""
    if not config.tenant:
        return
    off = sorted(c for c in known if c.startswith("FF5") and not file_config.enabled(c))
    if off:
        raise UserError(
            f"{file_config.source or CONFIG_YAML}: switches off tenancy rule"
            f"{'s' if len(off) > 1 else ''} {', '.join(off)}, refused under --tenant",
            hint="remove FF5 codes from the config's select/ignore (a platform admin may pass "
            "--ignore on the command line instead)")


def check_codes(config: Config, known: Iterable[str]) -> None:
    """--select/--ignore entries must match at least one rule: a typo must not silence nothing."""
    codes = list(known)
    bad = [c for c in (*config.select, *config.ignore)
           if not any(code.startswith(c) for code in codes)]
    if bad:
        raise UserError(
            f"unknown rule code{'s' if len(bad) > 1 else ''}: {', '.join(bad)}",
            hint="run 'flux-fleet rules' for the list of codes (a prefix such as FF4 selects "
            "a whole group)")
