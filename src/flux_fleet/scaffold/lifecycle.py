"""Day-2 operations on a rendered fleet: update the template, add and remove tenants and clusters.

Every answer change goes through ``copier update`` with the new answers as data, never by editing
``.copier-answers.yml``. Copier leaves three traps open, closed here:

- it exits 0 with conflicts left behind: ``apply`` fails (exit 1) and names every file;
- removing a tenant or cluster deletes its rendered files even where the user edited them:
  ``plan`` renders the change in a throw-away clone first, compares each file it would delete
  with what the template rendered, and refuses (or, with ``force``, backs those files up);
- ``--defaults`` keeps a stored answer when the template default moved: a new Flux version is
  only applied when asked for (``flux_version``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from flux_fleet.errors import FindingsError, UserError
from flux_fleet.scaffold import answer_change, atomic, copier_run, git, template_source
from flux_fleet.scaffold.copier_run import ANSWERS_FILE, Conflicts

_DESCRIBE = re.compile(r"^(?P<tag>.+?)-(?P<n>\d+)-g[0-9a-f]+$")


@dataclass(frozen=True)
class Plan:
    """What an operation would do to the fleet's files (repository-relative paths)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    edited: tuple[str, ...] = ()  # deleted files whose content differs from the template's render
    left: tuple[str, ...] = ()  # files the user added under a removed folder (Copier keeps them)
    conflicts: Conflicts = field(default_factory=Conflicts)
    overwritten: tuple[str, ...] = ()  # added files where the fleet has an ignored/untracked one

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.deleted)

    def lines(self) -> list[str]:
        out = [f"  added    {p}" + ("  (overwrites your untracked/ignored file)"
                                      if p in self.overwritten else "") for p in self.added]
        out += [f"  changed  {p}" for p in self.changed]
        out += [f"  deleted  {p}" + ("  (edited by you)" if p in self.edited else "")
                for p in self.deleted]
        out += [f"  kept     {p}  (not rendered by the template)" for p in self.left]
        out += [f"  conflict {line}" for line in self.conflicts.lines()]
        return out or ["  no file changes"]


@dataclass(frozen=True)
class Outcome:
    """The result of an operation: its plan, where edited files were backed up, validation."""

    plan: Plan
    applied: bool
    backup: Path | None = None
    validation: Any = None  # flux_fleet.validate.ValidationResult, when it ran
    notes: tuple[str, ...] = ()


@dataclass
class Fleet:
    """A rendered fleet repository and the template it came from (one per operation)."""

    root: Path

    @cached_property
    def answers(self) -> dict[str, Any]:
        return copier_run.read_answers(self.root)

    @cached_property
    def top(self) -> Path:
        """The git work tree holding the fleet (the fleet may live in a subfolder)."""
        top = git.toplevel(self.root)
        if top is None:
            raise UserError(f"{self.root}: not inside a git repository; Copier updates need one",
                            hint=f"git -C {self.root} init && git -C {self.root} add -A && "
                                 f"git -C {self.root} commit -m 'fleet'")
        return top

    @property
    def subdir(self) -> Path:
        return self.root.resolve().relative_to(self.top.resolve())

    @property
    def commit(self) -> str:
        """The template version the fleet was last rendered from (``_commit``)."""
        ref = self.answers.get("_commit")
        if not ref:
            raise UserError(f"{self.root / ANSWERS_FILE}: no _commit; the fleet was rendered "
                            "from a template that is not a git repository, so it cannot be updated",
                            hint="render it again with `flux-fleet new --template <tagged git "
                                 "clone or URL>`")
        return str(ref)

    @property
    def src(self) -> str:
        """The template source (``_src_path``); must resolve from anywhere."""
        src = str(self.answers.get("_src_path") or "")
        if not src:
            raise UserError(f"{self.root / ANSWERS_FILE}: no _src_path; Copier cannot find the "
                            "template",
                            hint="set _src_path to the template's git URL, commit, rerun")
        if "://" in src or src.startswith(("gh:", "gl:", "git@")):
            return src
        path = Path(src).expanduser()
        if not path.is_absolute():
            raise UserError(
                f"{self.root / ANSWERS_FILE}: _src_path '{src}' is relative and only resolves "
                "from the directory it was typed in",
                hint="set _src_path to an absolute path or the template's git URL, commit, rerun")
        if not path.exists():
            raise UserError(f"{self.root / ANSWERS_FILE}: template source {src} does not exist",
                            hint="set _src_path to the template's git URL (or a tagged clone), "
                                 "commit, rerun")
        return src

    def source(self, target: str | None) -> template_source.Source:
        """The template to render from: the local history when it has both versions, else
        the recorded source (a URL needs the network). An unknown ``target`` exits 2."""
        recorded = str(self.answers.get("_src_path") or "")
        bundled = publish_bundled()
        urls = {bundled.url, str(self.answers.get("template_url") or "")}
        for url in urls:
            found = template_source.resolve(recorded, self.commit, target, url)
            if found.offline:
                return found
        self.src  # noqa: B018 - the recorded source must resolve from anywhere
        found = template_source.resolve(recorded, self.commit, target, "")
        tags = _tags_or_none(found.path)
        if tags is None:
            offline = ", ".join(found.known) or "none"
            raise UserError(
                f"the template at {found.path} cannot be reached, and the versions known "
                f"offline ({offline}) do not include {target or self.commit}",
                hint="connect to the network, or install the flux-fleet release that ships "
                     "that version and rerun")
        if target is not None and not re.fullmatch(r"[0-9a-f]{7,40}", target) \
                and target not in tags:
            raise UserError(f"--to {target}: the template has no such version",
                            hint="known versions: " + (", ".join(tags) or "none"))
        return found

    def require_clean(self) -> None:
        """Copier diffs against HEAD: uncommitted work would be mixed into the update."""
        status = git.status(self.root)
        if not status.clean:
            paths = status.all_paths()
            shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
            raise UserError(f"{self.root}: uncommitted changes ({shown}); refusing to touch a "
                            "dirty tree", hint="commit or stash them, then rerun")

    def user_answers(self) -> dict[str, Any]:
        return copier_run.user_answers(self.answers)


# --- computing a change away from the user's tree ----------------------------------------

def _rewrite_source(answers_file: Path, src: str, commit: str | None = None) -> bool:
    """Point ``_src_path`` at ``src`` (and ``_commit`` at ``commit``); changed?

    Round-trip YAML: nothing else is touched.
    """
    from ruamel.yaml import YAML

    rt = YAML()
    rt.preserve_quotes = True
    doc = rt.load(answers_file.read_text(encoding="utf-8"))
    if str(doc.get("_src_path") or "") == src and commit in (None, doc.get("_commit")):
        return False
    doc["_src_path"] = src
    if commit is not None:
        doc["_commit"] = commit
    with answers_file.open("w", encoding="utf-8") as fh:
        rt.dump(doc, fh)
    return True


@dataclass(frozen=True)
class _Computed:
    plan: Plan
    repo: Path  # the scratch clone; its HEAD is the after state
    before: str  # the fleet's HEAD it was computed from


def _compute(fleet: Fleet, tmp: Path, data: Mapping[str, Any], source: template_source.Source,
             *, unsafe: bool, label: str, answers_only: bool = False) -> _Computed:
    """Run the Copier update in a scratch clone, commit the result there, and describe it.

    Each deleted file is compared with the template's render of the current answers (deleting
    a file the user edited is never silent) and each added file with what the fleet holds at
    that path (an ignored file there would be overwritten). ``answers_only`` (same template
    version): render only what the change touches (``answer_change``) when the user edited none
    of it, else the full update.
    """
    clone = tmp / "fleet"
    git.clone(fleet.top, clone)
    if not git.run(["config", "user.email"], clone, check=False).strip():
        # the scratch commits never reach the user's history: no identity needed on a new machine
        git.run(["config", "user.name", "flux-fleet"], clone)
        git.run(["config", "user.email", "flux-fleet@localhost"], clone)
    before = git.head(clone)
    root = clone / fleet.subdir
    if _rewrite_source(root / ANSWERS_FILE, source.path):
        git.commit_all(clone, "flux-fleet: render from the local template source")
    atomic.checkpoint("cloned")
    fast = _answers_only(fleet, tmp, data, source, root) if answers_only and not unsafe else None
    if fast is None:
        conflicts = copier_run.update(root, data, source.ref, unsafe=unsafe)
    else:
        conflicts = Conflicts()
    # Copier records `git describe`, which may name another tag of the same cached commit
    _rewrite_source(root / ANSWERS_FILE, source.recorded, source.ref if source.offline else None)
    # --force: what the template renders is the after state, git-ignored or not
    git.run(["add", "--all", "--force"], clone)
    git.run(["-c", "commit.gpgsign=false", "commit", "--quiet", "--allow-empty", "--no-verify",
             "-m", f"flux-fleet {label}"], clone)
    atomic.checkpoint("rendered")
    prefix = f"{fleet.subdir.as_posix()}/" if str(fleet.subdir) != "." else ""
    rel = _relative(prefix)
    added: list[str] = []
    changed: list[str] = []
    deleted: list[str] = []
    for c in atomic.changes(clone, before, "HEAD"):
        path = rel(c.path)
        if c.path.endswith(".rej"):
            continue
        (added if not c.old_blob else deleted if not c.new_blob else changed).append(path)
    overwritten = [p for p in added
                   if (fleet.root / p).exists() or (fleet.root / p).is_symlink()]
    edited: list[str] = []
    left: list[str] = []
    if deleted:
        pristine = fast.old if fast is not None else tmp / "pristine"
        if fast is None:
            copier_run.copy(source.path, pristine, fleet.user_answers(), fleet.commit,
                            unsafe=unsafe)
        edited = [p for p in deleted if not _same(fleet.root / p, pristine / p)]
        gone_dirs = {str(Path(p).parent) for p in deleted}
        left = sorted(p for p in git.tracked_files(root)
                      if str(Path(p).parent) in gone_dirs and (root / p).exists()
                      and not (pristine / p).exists() and p not in added)
    conflicts = Conflicts(
        markers=tuple(rel(p) for p in conflicts.markers),
        rejects=tuple(rel(p) for p in conflicts.rejects),
        unmerged=tuple(rel(p) for p in conflicts.unmerged),
    )
    return _Computed(Plan(tuple(sorted(added)), tuple(sorted(changed)), tuple(sorted(deleted)),
                          tuple(edited), tuple(left), conflicts, tuple(sorted(overwritten))),
                     clone, before)


def _answers_only(fleet: Fleet, tmp: Path, data: Mapping[str, Any],
                  source: template_source.Source, root: Path) -> answer_change.Rendered | None:
    """The partial render of an answer change, when the template version really is the same."""
    if source.ref is None:
        return None
    try:
        same = (git.run(["rev-parse", f"{fleet.commit}^{{commit}}"], source.path)
                == git.run(["rev-parse", f"{source.ref}^{{commit}}"], source.path))
    except (git.GitError, OSError):
        return None
    if not same:
        return None
    old = fleet.user_answers()
    return answer_change.apply(source.path, source.ref, old, {**old, **data}, fleet.root, root,
                               tmp, meanwhile=_import_validator)


def _import_validator() -> None:
    """The validator's modules, imported while the renders run (the next step needs them)."""
    import flux_fleet.validate.run  # noqa: F401 - the import is the work


def _relative(prefix: str):  # type: ignore[no-untyped-def]
    def rel(path: str) -> str:
        return path[len(prefix):] if prefix and path.startswith(prefix) else path
    return rel


def _same(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()


def backup(fleet: Fleet, files: Sequence[str], label: str) -> Path:
    """Copy ``files`` under the repository's git dir (kept out of the tree, never committed)."""
    git_dir = Path(git.run(["rev-parse", "--absolute-git-dir"], fleet.root).strip())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    dest = git_dir / "flux-fleet-backup" / f"{stamp}-{label}"
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(fleet.root / rel, target)
    return dest


# --- running an operation -----------------------------------------------------------------

def _validate(fleet: Fleet) -> Any:
    """Run the validator over the updated fleet; FindingsError when it fails."""
    from flux_fleet import validate

    result = validate.validate(fleet.root, cache=True)  # unchanged builds from build_cache
    if result.failed:
        errors = [f for f in result.findings if f.severity.value == "error"]
        head = "; ".join(f"{f.file}:{f.line} {f.rule} {f.message}" for f in errors[:5])
        raise FindingsError(f"the fleet no longer validates ({len(errors)} error(s)): {head}",
                            hint=f"run `flux-fleet validate {fleet.root}` for every finding")
    return result


def _run(fleet: Fleet, data: Mapping[str, Any], target: str | None, label: str, *,
         operation: str, force: bool, dry_run: bool, validate: bool, unsafe: bool = False,
         conflict_error: type[Exception] = UserError, answers_only: bool = False) -> Outcome:
    """One lifecycle operation, all or nothing: compute in a scratch clone, then apply."""
    notes = list(atomic.guard(fleet.top))
    fleet.require_clean()
    source = fleet.source(target)
    what = label.replace("-", " ", 2)
    with atomic.scratch(fleet.top, operation) as tmp:
        computed = _compute(fleet, tmp, data, source, unsafe=unsafe, label=label,
                            answers_only=answers_only)
        planned = computed.plan
        notes += [*layout_notes(planned), *flux_notes(fleet, data)]
        if dry_run:
            return Outcome(planned, applied=False, notes=tuple(notes))
        at_risk = sorted({*planned.edited, *planned.overwritten})
        if at_risk and not force:
            raise UserError(
                f"{what} would overwrite or delete {len(at_risk)} file(s) of yours: "
                + "; ".join(_risk(planned, p) for p in at_risk) + "; nothing was changed",
                hint="keep your changes elsewhere first, or rerun with --force (the files are "
                     "backed up under .git/flux-fleet-backup/)")
        if planned.conflicts and not force:
            # e.g. the tenant's own Kustomization in clusters/<cluster>/tenants.yaml, edited by
            # hand: Copier cannot drop the document without conflict markers
            raise conflict_error(
                f"{what} would leave conflicts in file(s) you edited: "
                + ", ".join(planned.conflicts.files()) + "; nothing was changed. "
                + "The change: " + "; ".join(line.strip() for line in planned.lines()),
                hint="undo your edits of what changes there (`git log -p FILE` shows them), or "
                     "rerun with --force and resolve the conflict markers it leaves")
        saved = backup(fleet, at_risk, label) if at_risk else None
        atomic.apply(fleet.top, computed.repo, operation, computed.before, saved,
                     fleet.subdir.as_posix())
    if planned.conflicts:
        raise FindingsError(
            f"the update left {len(planned.conflicts.files())} conflicted file(s): "
            + "; ".join(planned.conflicts.lines())
            + f". Resolve them in {fleet.root}, `git add` them, then run `flux-fleet validate`",
        )
    result = _validate(fleet) if validate else None
    return Outcome(planned, applied=True, backup=saved, validation=result, notes=tuple(notes))


def _risk(planned: Plan, path: str) -> str:
    if path in planned.overwritten:
        return f"{path} (untracked or git-ignored: it would be overwritten)"
    return f"{path} (edited since it was rendered: it would be deleted)"


def change_answers(fleet: Fleet, data: Mapping[str, Any], label: str, *, removes: bool,
                   force: bool = False, dry_run: bool = False, validate: bool = True) -> Outcome:
    """Apply new answers at the fleet's current template version, safely.

    ``label`` reads as ``tenant-remove-NAME``: it names the backup folder and the operation.
    """
    del removes  # every change is rehearsed now: adds can overwrite ignored files too
    if fleet.answers.get("repo_kind", "platform") != "platform":
        raise UserError(f"{fleet.root} is a tenant repository; tenants and clusters live in the "
                        "platform fleet", hint="run the command in the platform repo (--dir)")
    _prevalidate(fleet, data)
    operation = label.replace("-", " ", 1).replace("-", " ", 1)
    return _run(fleet, data, fleet.commit, label, operation=operation, force=force,
                dry_run=dry_run, validate=validate, answers_only=True)


def update(root: Path, to: str | None = None, flux_version: str | None = None, *,
           dry_run: bool = False, trust: bool = False, validate: bool = True,
           answers: Mapping[str, Any] | None = None, force: bool = False) -> Outcome:
    """Move the fleet to template ``to`` (default: latest tag), optionally to a Flux release.

    ``answers``: changed answers (``--data``, e.g. ``bootstrap``), checked like the stored ones.
    """
    fleet = Fleet(root)
    fleet.commit  # noqa: B018 - a fleet without _commit cannot be updated
    data: dict[str, Any] = dict(answers or {})
    if data:
        from flux_fleet.scaffold.answers import validate as check_answers

        problems = check_answers({**fleet.user_answers(), **data})
        if problems:
            raise UserError("--data: the answers would not be valid", problems=problems)
    if flux_version is not None:
        if not re.match(r"^v2\.\d+\.\d+$", flux_version):
            raise UserError(f"--flux-version '{flux_version}': not a Flux v2 release",
                            hint="pass a version like v2.9.4")
        data["flux_version"] = flux_version
    return _run(fleet, data, to, "update", operation="update", force=force, dry_run=dry_run,
                validate=validate, unsafe=trust, conflict_error=FindingsError)


def flux_notes(fleet: Fleet, data: Mapping[str, Any]) -> list[str]:
    """A Flux version bump: the components on each cluster change only by bootstrapping again."""
    new = data.get("flux_version")
    if not new or new == fleet.answers.get("flux_version"):
        return []
    names = [str(c.get("name")) for c in fleet.answers.get("clusters") or []]
    return [f"Flux {new}: gotk-components.yaml belongs to `flux bootstrap` and is left as it "
            f"is; after pushing, rerun bootstrap on each cluster: "
            + "; ".join(f"`flux-fleet bootstrap {n} --dir {fleet.root}`" for n in names)]


# Older templates applied a cluster's tenants with ONE Flux Kustomization `tenants` (path
# ./tenants/<cluster>, now deleted); now each tenant has its own `tenant-<name>`. Flux deleting
# `tenants` with prune on would garbage-collect its inventory: every tenant namespace.
_OLD_OVERLAY = re.compile(r"^tenants/(?P<cluster>[^/]+)/kustomization\.yaml$")
MIGRATION_DOC = ("'One Kustomization per tenant: migrating a live fleet' in flux-fleet's "
                 "docs/lifecycle.md")


def layout_notes(changes: Plan) -> tuple[str, ...]:
    """What the user must do in the clusters before pushing an update that changes the layout."""
    clusters = sorted(m.group("cluster") for p in changes.deleted
                      if (m := _OLD_OVERLAY.match(p)) and m.group("cluster") != "base")
    if not clusters:
        return ()
    return (
        "this update replaces the Flux Kustomization `tenants` of each cluster with one "
        "`tenant-<name>` per tenant. Before you push it, run on every cluster ("
        + ", ".join(clusters) + "): `flux suspend kustomization tenants -n flux-system`; "
        "otherwise Flux deletes `tenants` with pruning on and takes every tenant namespace "
        "with it. Edits you made to the deleted tenants/<cluster>/kustomization.yaml are gone "
        f"from the tree (not from git history). See {MIGRATION_DOC}",
    )


def _prevalidate(fleet: Fleet, data: Mapping[str, Any]) -> None:
    """Reject bad answers with one line per problem before Copier runs (same words as Copier)."""
    from flux_fleet.scaffold import answers

    merged = {**fleet.user_answers(), **data}
    problems = answers.validate(merged)
    if problems:
        raise UserError(f"{problems[0]}", problems=problems[1:],
                        hint="correct the value and rerun; nothing was changed")


def publish_bundled() -> template_source.Published:
    """The installed flux-fleet's template, as a version of the local template history."""
    from flux_fleet import __version__, resources

    return template_source.publish(resources.template_dir(), __version__)


def _tags_or_none(src: str) -> list[str] | None:
    """The version tags of ``src``, or None when it cannot be reached (offline)."""
    try:
        return git.remote_tags(src)
    except git.GitError:
        return None


# --- tenants and clusters -----------------------------------------------------------------

def tenants(root: Path) -> list[dict[str, Any]]:
    return list(Fleet(root).answers.get("tenants") or [])


def clusters(root: Path) -> list[dict[str, Any]]:
    return list(Fleet(root).answers.get("clusters") or [])


def _envs(cluster_list: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(c.get("env") or c.get("name")) for c in cluster_list))


@dataclass(frozen=True)
class TenantSpec:
    """A tenant as ``tenant add`` takes it; ``entry`` fills defaults as the template does."""

    name: str
    repo_url: str
    namespaces: tuple[str, ...] = ()
    branch: str = "main"
    paths: Mapping[str, str] = field(default_factory=dict)
    role: str = "admin"
    clusters: tuple[str, ...] = ()
    #: the tenant's bounds (docs/security.md, layer 1); unset: the template's defaults
    pod_security: str | None = None
    quota: Mapping[str, str | int] = field(default_factory=dict)
    allowed_source_prefixes: tuple[str, ...] = ()
    network_policy: bool = True

    def entry(self, cluster_list: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        names = [str(c.get("name")) for c in cluster_list]
        unknown = [c for c in self.clusters if c not in names]
        if unknown:
            raise UserError(f"--clusters: unknown cluster(s) {', '.join(unknown)}",
                            hint=f"use some of: {', '.join(names)}")
        envs = _envs(cluster_list)
        extra = sorted(set(self.paths) - set(envs))
        if extra:
            raise UserError(f"--path: unknown environment(s) {', '.join(extra)}",
                            hint=f"use ENV=PATH with ENV one of: {', '.join(envs)}")
        return {
            "branch": self.branch,
            "clusters": list(self.clusters or names),
            "name": self.name,
            "namespaces": list(self.namespaces or (self.name,)),
            "paths": {env: self.paths.get(env, f"./{env}") for env in envs},
            "repo_url": self.repo_url,
            "role": self.role,
            **self._bounds(),
        }

    def _bounds(self) -> dict[str, Any]:
        """Only the bounds that were asked for: the answers keep the template's defaults."""
        out: dict[str, Any] = {}
        if self.pod_security is not None:
            out["pod_security"] = self.pod_security
        if self.quota:
            out["quota"] = dict(self.quota)
        if self.allowed_source_prefixes:
            out["allowed_source_prefixes"] = list(self.allowed_source_prefixes)
        if not self.network_policy:
            out["network_policy"] = False
        return out


def add_tenant(root: Path, spec: TenantSpec, *, dry_run: bool = False,
               validate: bool = True, force: bool = False) -> Outcome:
    fleet = Fleet(root)
    current = list(fleet.answers.get("tenants") or [])
    if any(t.get("name") == spec.name for t in current):
        raise UserError(f"tenant '{spec.name}' already exists in {fleet.root / ANSWERS_FILE}",
                        hint=f"pick another name, or `flux-fleet tenant remove {spec.name}` first")
    entry = spec.entry(list(fleet.answers.get("clusters") or []))
    return change_answers(fleet, {"tenants": [*current, entry]}, f"tenant-add-{spec.name}",
                          removes=False, dry_run=dry_run, validate=validate, force=force)


def remove_tenant(root: Path, name: str, *, force: bool = False, dry_run: bool = False,
                  validate: bool = True) -> Outcome:
    fleet = Fleet(root)
    kept = _without_entry(fleet, "tenant", name)
    return change_answers(fleet, {"tenants": kept}, f"tenant-remove-{name}", removes=True,
                          force=force, dry_run=dry_run, validate=validate)


def add_cluster(root: Path, name: str, context: str, env: str | None = None, *,
                dry_run: bool = False, validate: bool = True, force: bool = False,
                tenants_on: str | None = None) -> Outcome:
    """Add cluster ``name``; ``tenants_on`` is ``all``, ``none`` or ``a,b``.

    By default placement stays as the answers say: tenants that name their clusters keep them
    (the new cluster gets none of them), tenants that name none run everywhere.
    """
    fleet = Fleet(root)
    current = list(fleet.answers.get("clusters") or [])
    if any(c.get("name") == name for c in current):
        raise UserError(f"cluster '{name}' already exists in {fleet.root / ANSWERS_FILE}",
                        hint=f"pick another name, or `flux-fleet cluster remove {name}` first")
    entry = {"context": context, "env": env or name, "name": name}
    tenant_list = list(fleet.answers.get("tenants") or [])
    placed, new_tenants = _place_on_new_cluster(tenant_list, [str(c.get("name")) for c in current],
                                                name, tenants_on)
    data: dict[str, Any] = {"clusters": [*current, entry]}
    if new_tenants != tenant_list:
        data["tenants"] = new_tenants
    outcome = change_answers(fleet, data, f"cluster-add-{name}", removes=False, dry_run=dry_run,
                             validate=validate, force=force)
    where = (f"places tenant(s) {', '.join(placed)} on cluster {name}" if placed
             else f"places no tenant on cluster {name} (`flux-fleet tenant place NAME "
                  f"--cluster {name}` adds one)")
    return replace(outcome, notes=(where, *outcome.notes))


def _place_on_new_cluster(tenant_list: list[dict[str, Any]], names: list[str], cluster: str,
                          choice: str | None) -> tuple[list[str], list[dict[str, Any]]]:
    """(tenants placed on ``cluster``, the tenants answer that says so)."""
    known = [str(t.get("name")) for t in tenant_list]
    if choice is None:
        return [str(t.get("name")) for t in tenant_list if not t.get("clusters")], tenant_list
    if choice == "all":
        wanted = set(known)
    elif choice == "none":
        wanted = set()
    else:
        wanted = {w.strip() for w in choice.split(",") if w.strip()}
        unknown = sorted(wanted - set(known))
        if unknown:
            raise UserError(f"--tenants: unknown tenant(s) {', '.join(unknown)}",
                            hint=f"use all, none, or some of: {', '.join(known) or 'none'}")
    out = []
    for t in tenant_list:
        t = dict(t)
        listed = list(t.get("clusters") or [])
        if str(t.get("name")) in wanted:
            if listed:  # an empty list means every cluster, the new one included
                t["clusters"] = [*listed, cluster]
        elif not listed:
            t["clusters"] = list(names)
        out.append(t)
    return [n for n in known if n in wanted], out


def place_tenant(root: Path, name: str, cluster: str, *, on: bool, force: bool = False,
                 dry_run: bool = False, validate: bool = True) -> Outcome:
    """Run tenant ``name`` on ``cluster`` too (``on``), or stop running it there."""
    fleet = Fleet(root)
    names = [str(c.get("name")) for c in fleet.answers.get("clusters") or []]
    if cluster not in names:
        raise UserError(f"--cluster {cluster}: no such cluster", hint=f"use one of: "
                        f"{', '.join(names)}")
    tenant_list = [dict(t) for t in fleet.answers.get("tenants") or []]
    tenant = next((t for t in tenant_list if t.get("name") == name), None)
    if tenant is None:
        known = ", ".join(str(t.get("name")) for t in tenant_list) or "none"
        raise UserError(f"no tenant '{name}' in {fleet.root / ANSWERS_FILE}",
                        hint=f"`flux-fleet tenant list` shows them (now: {known})")
    listed = list(tenant.get("clusters") or names)
    if (cluster in listed) == on:
        raise UserError(f"tenant '{name}' {'already runs' if on else 'does not run'} on "
                        f"cluster '{cluster}'", hint="`flux-fleet tenant list` shows placement")
    listed = [*listed, cluster] if on else [c for c in listed if c != cluster]
    if not listed:
        raise UserError(f"cluster '{cluster}' is the last one tenant '{name}' runs on",
                        hint=f"`flux-fleet tenant remove {name}` removes the tenant")
    tenant["clusters"] = [c for c in names if c in listed]
    verb = "place" if on else "unplace"
    return change_answers(fleet, {"tenants": tenant_list}, f"tenant-{verb}-{name}",
                          removes=not on, force=force, dry_run=dry_run, validate=validate)


def remove_cluster(root: Path, name: str, *, force: bool = False, dry_run: bool = False,
                   validate: bool = True) -> Outcome:
    fleet = Fleet(root)
    kept = _without_entry(fleet, "cluster", name)
    if not kept:
        raise UserError(f"cluster '{name}' is the fleet's last cluster",
                        hint="add its replacement first: "
                             "`flux-fleet cluster add NAME --context CTX`")
    data: dict[str, Any] = {"clusters": kept}
    tenant_list = list(fleet.answers.get("tenants") or [])
    if any(name in (t.get("clusters") or []) for t in tenant_list):
        data["tenants"] = _without_cluster(tenant_list, name, kept)
    return change_answers(fleet, data, f"cluster-remove-{name}", removes=True, force=force,
                          dry_run=dry_run, validate=validate)


def _without_entry(fleet: Fleet, what: str, name: str) -> list[dict[str, Any]]:
    """The ``what``s ("tenant"/"cluster") of the answers without ``name``; it must be there."""
    current = list(fleet.answers.get(f"{what}s") or [])
    kept = [e for e in current if e.get("name") != name]
    if len(kept) == len(current):
        names = ", ".join(str(e.get("name")) for e in current) or "none"
        raise UserError(f"no {what} '{name}' in {fleet.root / ANSWERS_FILE}",
                        hint=f"`flux-fleet {what} list` shows them (now: {names})")
    return kept


def _without_cluster(tenant_list: list[dict[str, Any]], name: str,
                     kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tenants with ``name`` dropped from their clusters (and paths of vanished environments)."""
    envs = set(_envs(kept))
    out = []
    for t in tenant_list:
        t = dict(t)
        on = list(t.get("clusters") or [])
        if name in on:
            on.remove(name)
            if not on:
                raise UserError(f"tenant '{t.get('name')}' runs only on cluster '{name}'",
                                hint=f"`flux-fleet tenant remove {t.get('name')}` first, or add "
                                     "it to another cluster")
            t["clusters"] = on
        if isinstance(t.get("paths"), dict):
            t["paths"] = {k: v for k, v in t["paths"].items() if k in envs}
        out.append(t)
    return out


# --- check-update -------------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateInfo:
    """What a fleet could move to: newer template tags and the Flux release they ship."""

    current: str
    latest: str
    newer: tuple[str, ...]
    flux_version: str
    flux_latest: str

    @property
    def template_update(self) -> bool:
        return bool(self.newer)

    @property
    def flux_update(self) -> bool:
        return bool(self.flux_latest) and _semver(self.flux_latest) > _semver(self.flux_version)

    def as_dict(self) -> dict[str, Any]:
        return {"template": {"current": self.current, "latest": self.latest,
                             "newer": list(self.newer), "update": self.template_update},
                "flux": {"current": self.flux_version, "latest": self.flux_latest,
                         "update": self.flux_update}}


def _semver(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def base_tag(commit: str) -> str:
    """``v1.2.0-3-gabc123`` (git describe) -> ``v1.2.0``."""
    m = _DESCRIBE.match(commit)
    return m.group("tag") if m else commit


def check_update(root: Path) -> UpdateInfo:
    fleet = Fleet(root)
    atomic.guard(fleet.top)
    current = fleet.commit
    source = fleet.source(None)
    if source.offline:
        known = list(source.known)
        newer = tuple(known[known.index(current) + 1:]) if current in known else ()
        latest = known[-1]
        text = git.run(["show", f"{latest}:copier.yml"], Path(source.path))
    else:
        tags = git.remote_tags(source.path)
        mine = git.version_key(base_tag(current)) or (0, 0, 0)
        newer = tuple(t for t in tags if (git.version_key(t) or (0, 0, 0)) > mine)
        latest = tags[-1] if tags else base_tag(current)
        text = ""
        if tags:
            with atomic.scratch(fleet.top, "check-update") as tmp:
                text = git.show_at(source.path, latest, "copier.yml", tmp)
    config = (yaml.safe_load(text) or {}) if text else {}
    question = config.get("flux_version") if isinstance(config, dict) else None
    flux_latest = str(question.get("default") or "") if isinstance(question, dict) else ""
    return UpdateInfo(current=current, latest=latest, newer=newer,
                      flux_version=str(fleet.answers.get("flux_version") or ""),
                      flux_latest=flux_latest)
