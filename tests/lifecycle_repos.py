"""Real template and fleet repositories for the lifecycle tests, built as copier tests itself.

``template_repo`` copies the checkout's copier.yml + template/ into a git repo and tags v1;
``make_v2`` commits a real template change on top (a new file, a changed manifest, a bumped
Flux default) and tags v2. ``new_fleet`` renders a tag into a committed git fleet.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from flux_fleet.scaffold import copier_run, git

REPO_ROOT = Path(__file__).resolve().parents[1]
INFRA = ("template/platform/clusters/{% yield cluster from cluster_specs %}{{ cluster.name }}"
         "{% endyield %}/infrastructure.yaml.jinja")
NEW_FILE = "template/platform/UPGRADING.md"
FLUX_V1 = "v2.9.4"
FLUX_V2 = "v2.9.5"


def template_repo(dest: Path) -> Path:
    """The checkout's template as a git repo tagged v1."""
    dest.mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "copier.yml", dest / "copier.yml")
    shutil.copytree(REPO_ROOT / "template", dest / "template")
    git.init_repo(dest, "template v1")
    git.run(["tag", "v1"], dest)
    return dest


def make_v2(tpl: Path, extra: dict[str, str] | None = None) -> None:
    """Tag v2: a new file, a changed manifest line, a bumped flux_version default."""
    (tpl / NEW_FILE).write_text("# Upgrading\n\nRead the release notes before updating.\n")
    infra = tpl / INFRA
    text = infra.read_text()
    assert "retryInterval: 1m" in text, "the template changed: pick another line to bump"
    infra.write_text(text.replace("retryInterval: 1m", "retryInterval: 2m"))
    config = tpl / "copier.yml"
    text = config.read_text()
    assert f"default: {FLUX_V1}" in text, "the template's Flux default moved: update FLUX_V1"
    config.write_text(text.replace(f"default: {FLUX_V1}", f"default: {FLUX_V2}"))
    for rel, content in (extra or {}).items():
        (tpl / rel).parent.mkdir(parents=True, exist_ok=True)
        (tpl / rel).write_text(content)
    release(tpl, "template v2", "v2")


def new_fleet(tpl: Path, dest: Path, ref: str = "v1") -> Path:
    """A fleet rendered from ``tpl`` at ``ref`` with the defaults, committed in its own repo."""
    copier_run.copy(str(tpl), dest, {}, ref)
    git.init_repo(dest, "fleet rendered by copier")
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the work tree (not .git) and its bytes, to compare trees byte for byte."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def release(repo: Path, message: str, tag: str) -> None:
    """Commit everything in the template repo and tag it (moving the tag if it exists)."""
    git.commit_all(repo, message)
    git.run(["tag", "-f", tag], repo)


def commit(root: Path, message: str) -> None:
    git.commit_all(root, message)
