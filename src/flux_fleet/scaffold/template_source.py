"""Where day-2 commands find the template: a local git history of it, kept in the user cache.

The bundled template (in the wheel, or a source checkout) is no git repository, and the public
URL needs a network. So every flux-fleet run that needs the template commits the bundled copy
into ``$XDG_CACHE_HOME/flux-fleet/template`` (one commit and tag per template version met, in the
order met) and renders from there. A wheel also carries ``history.bundle``, the template's
tagged releases packed at build time (build_hooks/template_history.py); its tags are fetched into
the cache too, so the cache knows every release up to the installed one. A fleet records the
portable source (the template's public URL) and the tag; later commands use the cache whenever
it holds the versions involved, so ``update``, ``tenant``, ``cluster`` and ``check-update`` work
offline between any two releases the installed package knows or this machine has met.
Other versions come from the recorded URL, as Copier does.

Release builds tag ``vX.Y.Z``; builds without a release version (a CI clone without tags gives
``0.0.0``) tag ``dev-<tree hash>``, so the same template content always gets the same tag.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from flux_fleet.release import release_tag
from flux_fleet.scaffold import git

# `git -c` identity for the cache's own commits (the user's identity is not needed there).
_IDENTITY = ["-c", "user.name=flux-fleet", "-c", "user.email=flux-fleet@localhost",
             "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
_SHORTHANDS = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/"}


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flux-fleet"


def cache_repo() -> Path:
    return cache_root() / "template"


def expand(src: str) -> str:
    """Copier's ``gh:org/repo`` / ``gl:org/repo`` shorthands as git URLs (git knows neither)."""
    for short, url in _SHORTHANDS.items():
        if src.startswith(short):
            return url + src[len(short):].removesuffix(".git") + ".git"
    return src


def same_url(a: str, b: str) -> bool:
    """Whether two template URLs name one repository (``.git``, trailing ``/``, shorthands)."""
    def norm(u: str) -> str:
        return expand(u).rstrip("/").removesuffix(".git").lower()
    return bool(a and b) and norm(a) == norm(b)


@contextmanager
def _locked() -> Iterator[None]:
    """One writer of the cache at a time (two `flux-fleet new` runs in parallel)."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / "lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Published:
    """The bundled template as a version of the cache repository."""

    repo: Path
    tag: str
    url: str  # the public URL this template says it lives at (template_url's default)


def template_url(template: Path) -> str:
    config = yaml.safe_load((template / "copier.yml").read_text(encoding="utf-8")) or {}
    question = config.get("template_url")
    return str(question.get("default") or "") if isinstance(question, dict) else ""


def publish(template: Path, version: str) -> Published:
    """Commit ``template`` (copier.yml + template/) to the cache repo and tag it; idempotent."""
    repo = cache_repo()
    with _locked():
        if not (repo / ".git").is_dir():
            shutil.rmtree(repo, ignore_errors=True)
            repo.mkdir(parents=True)
            git.run(["init", "--quiet"], repo)
        # a run killed inside `git add` leaves the lock behind; we hold the only writer's lock
        (repo / ".git" / "index.lock").unlink(missing_ok=True)
        import_history(repo, template / HISTORY)
        for entry in repo.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        shutil.copy2(template / "copier.yml", repo / "copier.yml")
        shutil.copytree(template / "template", repo / "template",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        git.run(["add", "--all"], repo)
        tree = git.run(["write-tree"], repo).strip()
        tags = _tags_by_tree(repo)
        same = [t for t, tr in tags.items() if tr == tree]
        wanted = release_tag(version)
        if wanted and tags.get(wanted) == tree:
            tag = wanted
        elif wanted and wanted not in tags:
            tag = wanted  # a release: its own tag, on the commit of equal content if there is one
            if same:
                git.run([*_IDENTITY, "tag", tag, same[0]], repo)
            else:
                _commit(repo, version, tag)
        elif same:
            tag = same[0]
        else:
            tag = f"dev-{tree[:12]}"
            _commit(repo, version, tag)
    return Published(repo, tag, template_url(template))


HISTORY = "history.bundle"  # next to copier.yml in the wheel's bundled template
_BUNDLED = "refs/flux-fleet-bundle/"


def import_history(repo: Path, bundle: Path) -> list[str]:
    """Fetch the bundle's release tags into the cache; returns the tags that were new.

    A tag the cache already has is kept (the cache's versions never change under a fleet);
    the bundle's refs land in their own namespace first so no existing tag is touched.
    """
    if not bundle.is_file():
        return []
    heads = git.run(["bundle", "list-heads", str(bundle)], repo, check=False).split()
    names = [ref.removeprefix("refs/tags/") for ref in heads if ref.startswith("refs/tags/")]
    have = set(git.run(["tag", "--list"], repo, check=False).split())
    if not names or set(names) <= have:
        return []
    # a damaged bundle only means fewer versions known offline (the messages list them)
    git.run(["fetch", "--quiet", "--no-tags", str(bundle), f"+refs/tags/*:{_BUNDLED}*"], repo,
            check=False)
    present = set(git.run(["for-each-ref", "--format=%(refname)", _BUNDLED], repo,
                          check=False).split())
    new = [name for name in names if name not in have and f"{_BUNDLED}{name}" in present]
    for name in new:
        git.run([*_IDENTITY, "tag", name, f"{_BUNDLED}{name}"], repo)
    return new


def _commit(repo: Path, version: str, tag: str) -> None:
    git.run([*_IDENTITY, "commit", "--quiet", "--allow-empty", "--no-verify",
             "-m", f"flux-fleet template {version} ({tag})"], repo)
    git.run([*_IDENTITY, "tag", tag], repo)


def _tags_by_tree(repo: Path) -> dict[str, str]:
    out = git.run(["for-each-ref", "--format=%(refname:short) %(objectname)^{tree}",
                   "refs/tags"], repo, check=False)
    tags: dict[str, str] = {}
    for line in out.splitlines():
        name, _, ref = line.partition(" ")
        tree = git.run(["rev-parse", ref], repo, check=False).strip()
        if tree:
            tags[name] = tree
    return tags


def known_versions(repo: Path | None = None) -> list[str]:
    """The cache's tags in the order flux-fleet met them (oldest first)."""
    repo = repo or cache_repo()
    if not (repo / ".git").is_dir():
        return []
    order = git.run(["log", "--reverse", "--date-order", "--format=%H", "--all"], repo,
                    check=False).split()
    pos = {sha: i for i, sha in enumerate(order)}
    out = git.run(["for-each-ref", "--format=%(refname:short) %(objectname)", "refs/tags"],
                  repo, check=False)
    pairs = [line.split(" ", 1) for line in out.splitlines() if " " in line]
    # one commit can carry a dev tag and a release tag: the release one comes last (latest)
    met = [name for name, sha in sorted(pairs, key=lambda p: (pos.get(p[1], -1),
                                                                git.version_key(p[0]) is not None,
                                                                _vkey(p[0])))]
    # releases met out of order (a bundle of old releases fetched after a newer one was
    # published) keep the places releases hold, in version order: the last is the newest
    releases = iter(sorted((t for t in met if release_tag_like(t)), key=_vkey))
    return [next(releases) if release_tag_like(t) else t for t in met]


def release_tag_like(tag: str) -> bool:
    return re.fullmatch(r"v\d+\.\d+\.\d+", tag) is not None


def _vkey(tag: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", tag)[:3])


@dataclass(frozen=True)
class Source:
    """The template a lifecycle command renders from, and where that choice came from."""

    path: str  # what Copier and git are given (cache path, URL, local path)
    ref: str | None  # the target version (None: the source's latest tag)
    recorded: str  # the portable source written back into the answers
    offline: bool  # True when served from the local cache
    known: tuple[str, ...] = ()  # the cache's versions (for messages)


def resolve(recorded: str, commit: str, target: str | None, cache_url: str) -> Source:
    """Serve from the cache when it holds both versions of this template; else the recorded one.

    ``cache_url`` is the public URL the cache's template stands for: only fleets recorded with
    that URL (or the cache itself) are served from it, never another template with equal tags.
    """
    repo = cache_repo()
    known = tuple(known_versions(repo))
    ours = same_url(recorded, cache_url) or _same_path(recorded, repo)
    if ours and commit in known and (target is None or target in known):
        return Source(str(repo), target or known[-1], recorded if not _same_path(recorded, repo)
                      else cache_url, True, known)
    return Source(expand(recorded), target, recorded, False, known)


def _same_path(a: str, b: Path) -> bool:
    try:
        return Path(a).resolve() == b.resolve()
    except (OSError, ValueError):
        return False
