"""Copier plumbing: resolve answers as Copier would, pre-validate them, and run ``copier copy``.

The defaults come from copier.yml itself (one source of truth): each question's Jinja default is
rendered in question order with the answers before it, exactly as Copier does, so the Python
pre-validation sees the same answers Copier will.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from jinja2 import FileSystemLoader, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from flux_fleet import __version__, resources
from flux_fleet.errors import UserError
from flux_fleet.scaffold import answers, copier_run, template_source

_TRUE = {"y", "yes", "t", "true", "on", "1"}
_FALSE = {"n", "no", "f", "false", "off", "0", "", "null", "~", "none"}


def cast_bool(value: Any) -> bool:
    """Copier's bool parsing: YAML-ish words, numbers, else Python truthiness."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        try:
            return float(low) != 0
        except ValueError:
            return bool(value)
    return bool(value)


def parse_data_args(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--data K=V`` pairs; values stay strings (each question's type parses them, as copier)."""
    data: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--data '{item}': expected KEY=VALUE",
                            hint="e.g. --data fleet_name=prod")
        data[key.strip()] = value
    return data


def load_data_file(path: Path) -> dict[str, Any]:
    """A ``--data-file`` YAML mapping of answers."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"--data-file {path}: cannot read it ({err.strerror})") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"{path}: must be a YAML mapping of answers (key: value)")
    return loaded


@dataclass(frozen=True)
class Questionnaire:
    """copier.yml of a template on disk: its questions, and how Copier would answer them."""

    root: Path

    @cached_property
    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.root / "copier.yml").read_text(encoding="utf-8")) or {}

    @cached_property
    def questions(self) -> dict[str, dict[str, Any]]:
        return {k: (v if isinstance(v, dict) else {"default": v})
                for k, v in self.config.items() if not k.startswith("_")}

    @cached_property
    def env(self) -> SandboxedEnvironment:
        envops = dict(self.config.get("_envops") or {})
        return SandboxedEnvironment(
            loader=FileSystemLoader(str(self.root)),
            extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
            **envops,
        )

    def _render(self, value: Any, context: Mapping[str, Any]) -> Any:
        if isinstance(value, str):
            return self.env.from_string(value).render(**context)
        if isinstance(value, list):
            return [self._render(v, context) for v in value]
        return value

    def _cast(self, question: Mapping[str, Any], value: Any) -> Any:
        implicit = "str" if isinstance(question.get("default"), str) else "yaml"
        kind = question.get("type", implicit)
        if kind == "bool":
            return cast_bool(value)
        if kind in ("yaml", "json") and isinstance(value, str):
            try:
                return yaml.safe_load(value) if kind == "yaml" else json.loads(value)
            except (yaml.YAMLError, ValueError) as err:
                raise ValueError(f"not valid {kind.upper()}: {err}") from err
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "str" and value is not None and not isinstance(value, str):
            return str(value)
        return value

    def resolve(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Every answer (given or default, computed ones too) and the problems met on the way.

        A default that cannot be computed is only reported when the answers it depends on are
        valid (otherwise it is a consequence of those problems, not a problem of its own).
        """
        resolved: dict[str, Any] = {}
        problems: list[str] = []
        failed_defaults: list[str] = []
        context: dict[str, Any] = {"_copier_answers": {}, "_copier_conf": {}}
        for name, question in self.questions.items():
            try:
                if name in data:
                    value = self._cast(question, data[name])
                elif "default" in question:
                    value = self._cast(question, self._render(question["default"], context))
                else:
                    continue
            except (TemplateError, ValueError, TypeError, AttributeError, KeyError) as err:
                if name in data:
                    problems.append(f"{name}: {err}")
                else:
                    failed_defaults.append(f"{name}: cannot compute its default ({err})")
                continue
            resolved[name] = value
            context[name] = value
        is_fleet = set(answers.ANSWER_KEYS) <= set(self.questions)
        if not problems:
            problems = (answers.validate(resolved) if is_fleet else []) or failed_defaults
        return resolved, problems


def prevalidate(data: Mapping[str, Any], template: Path | None = None,
                *, complete: bool = True) -> dict[str, Any]:
    """The answers Copier will use; raises UserError listing every problem (exit 2).

    ``complete`` False (an interactive run) checks only the answers given: Copier asks the
    rest, and a question that has no usable default yet (the age recipients once sops is on)
    must reach its prompt instead of failing here.
    """
    root = template or resources.template_dir()
    unknown = sorted(set(data) - set(Questionnaire(root).questions))
    problems = [f"{key}: not a question of this template" for key in unknown]
    resolved, resolve_problems = Questionnaire(root).resolve(data)
    if not complete:
        resolve_problems = [p for p in resolve_problems if p.split(":", 1)[0] in data]
    problems += resolve_problems
    if problems:
        raise UserError(f"{len(problems)} problem(s) with the answers; nothing was rendered",
                        problems=problems, hint="correct the answers and run again")
    return resolved


def render_new(
    dest: Path,
    data: Mapping[str, Any],
    *,
    defaults: bool = False,
    vcs_ref: str | None = None,
    template: str | None = None,
    quiet: bool = True,
    force: bool = False,
) -> Path:
    """``copier copy`` of the bundled template (or ``template``) into ``dest``, validated first.

    The bundled template is rendered from its local git history (``template_source``), and the
    fleet records the template's public URL and the version tag: a portable source that day-2
    commands serve offline. Refuses a non-empty ``dest`` unless ``force``; leaves nothing
    behind when it fails on a ``dest`` that did not exist before.
    """
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{dest}: exists and is not a folder", hint="pick another destination")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise UserError(f"{dest}: exists and is not empty; rendering would overwrite its files "
                        "and mix in its old answers",
                        hint="pick a new or empty destination, or rerun with --force")
    data = dict(data)
    local = Path(template) if template else resources.template_dir()
    published = None
    if template is None:
        data.setdefault("template_version", __version__)
        published = template_source.publish(local, __version__)
        if vcs_ref is not None and vcs_ref not in template_source.known_versions():
            known = ", ".join(template_source.known_versions())
            raise UserError(f"--vcs-ref {vcs_ref}: not a version of the bundled template",
                            hint=f"known versions: {known}; or pass --template URL")
    if (local / "copier.yml").is_file():
        prevalidate(data, local, complete=defaults)
    existed = dest.exists()
    try:
        if published is not None:
            copier_run.copy(str(published.repo), dest, data, vcs_ref or published.tag,
                            defaults=defaults, quiet=quiet)
        else:
            copier_run.copy(template or "", dest, data, vcs_ref, defaults=defaults,
                            quiet=quiet)
    except BaseException:
        if not existed and dest.exists():
            shutil.rmtree(dest, ignore_errors=True)  # never a half-written fleet
        raise
    if published is not None:
        record_source(dest / ANSWERS_FILE, published.url, vcs_ref or published.tag)
    return dest


ANSWERS_FILE = ".copier-answers.yml"


def record_source(answers_file: Path, fallback_url: str, tag: str) -> None:
    """Record the template's portable URL as ``_src_path`` instead of the local history's path.

    The URL is the fleet's ``template_url`` answer (where its pre-commit hook installs flux-fleet
    from), else the template's own default; ``_commit`` is the tag rendered (Copier records
    ``git describe``, which may pick another tag of the same commit).
    """
    from ruamel.yaml import YAML

    if not answers_file.is_file():
        return
    rt = YAML()
    rt.preserve_quotes = True
    doc = rt.load(answers_file.read_text(encoding="utf-8"))
    url = (doc.get("template_url") if hasattr(doc, "get") else None) or fallback_url
    if not url:
        return
    doc["_src_path"] = str(url)
    doc["_commit"] = tag
    tmp = answers_file.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        rt.dump(doc, fh)
    tmp.replace(answers_file)


def init_repo(dest: Path) -> str:
    """Make a new fleet a git repository with a first commit; what was done, for the user.

    Day-2 commands diff against ``HEAD``. A fleet rendered into an existing repository is left
    for the user to commit there.
    """
    from flux_fleet.scaffold import git

    top = git.toplevel(dest)
    if top is not None:
        return (f"{dest} is inside the git repository {top}: commit it there "
                f"(`git -C {top} add -A && git -C {top} commit`)")
    git.run(["init", "--quiet"], dest)
    git.run(["add", "--all"], dest)
    identity: list[str] = []
    if not git.run(["config", "user.email"], dest, check=False).strip():
        identity = ["-c", "user.name=flux-fleet", "-c", "user.email=flux-fleet@localhost"]
    git.run([*identity, "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify",
             "-m", "fleet rendered by flux-fleet new"], dest)
    return f"{dest} is a git repository with a first commit (`git -C {dest} log`)"
