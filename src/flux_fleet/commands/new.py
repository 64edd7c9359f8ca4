"""``flux-fleet new DEST``: render a fleet (or tenant) repository from the bundled template."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from flux_fleet import progress
from flux_fleet.scaffold.render import (
    ANSWERS_FILE,
    init_repo,
    load_data_file,
    parse_data_args,
    render_new,
)


@click.command()
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False))
@click.option("--data", "-d", "data_args", multiple=True, metavar="KEY=VALUE",
              help="An answer; YAML values (lists) are parsed per question type, as copier does.")
@click.option("--data-file", type=click.Path(path_type=Path, dir_okay=False),
              help="A YAML file of answers; --data wins over it.")
@click.option("--defaults", is_flag=True, help="Use the default for every question not answered.")
@click.option("--vcs-ref", default=None, metavar="REF",
              help="Template version to render: without --template one of the bundled "
                   "template's versions (anything else is refused with the list); with "
                   "--template any git ref of that copy (tag, branch, HEAD).")
@click.option("--template", default=None, metavar="SRC",
              help="Another copy of the template (path or git URL); default: the bundled one.")
@click.option("--force", is_flag=True, help="Render into a non-empty DEST (overwrites files).")
@click.option("--no-git", is_flag=True, help="Do not make DEST a git repository.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress lines (shown on standard error when it is a terminal).")
def new(dest: Path, data_args: tuple[str, ...], data_file: Path | None, defaults: bool,
        vcs_ref: str | None, template: str | None, force: bool, no_git: bool,
        quiet: bool) -> int:
    """Render a new fleet repository into DEST.

    \b
    Example:
      flux-fleet new fleet --defaults --data fleet_name=acme
    """
    if quiet:
        progress.stop()
    data = load_data_file(data_file) if data_file else {}
    # A fleet's .copier-answers.yml is a fine data file (a tenant repo starts from it): its
    # _commit/_src_path say where the fleet came from and are no answers.
    data = {k: v for k, v in data.items() if not str(k).startswith("_")}
    data.update(parse_data_args(data_args))
    progress.phase(f"new: rendering {dest}")
    render_new(dest, data, defaults=defaults, vcs_ref=vcs_ref, template=template, force=force)
    if progress.active():
        progress.phase(f"new: {progress.plural(_files(dest), 'file')} rendered")
    click.echo(f"rendered {dest}")
    if not no_git:
        progress.phase("new: committing the first version")
        click.echo(init_repo(dest))
    for line in next_steps(dest, git_repo=not no_git):
        click.echo(line)
    return 0


def next_steps(dest: Path, git_repo: bool = True) -> list[str]:
    """What to run next, for the kind of repository rendered (a tenant repo is not bootstrapped:
    the platform's fleet syncs it) and with the fleet's own cluster names. Day-2 commands and
    pre-commit need a git repository: ``--no-git`` gets the command that makes one first."""
    answers = yaml.safe_load((dest / ANSWERS_FILE).read_text(encoding="utf-8")) \
        if (dest / ANSWERS_FILE).is_file() else {}
    answers = answers if isinstance(answers, dict) else {}
    lines = ["next steps:"]
    if not git_repo:
        lines.append(f"  git -C {dest} init && git -C {dest} add -A && git -C {dest} commit -m "
                     "'fleet'   # day-2 commands and pre-commit need a git repository")
    if answers.get("repo_kind") == "tenant":
        lines += [f"  flux-fleet validate {dest} --tenant",
                  f"  (cd {dest} && pre-commit install)   # validate on every commit",
                  f"  push it to {_tenant_repo(answers) or 'the tenant repository'}; the fleet "
                  f"syncs tenant {answers.get('tenant_name')} from there"]
        return lines
    names = [str(c.get("name")) for c in answers.get("clusters") or [] if isinstance(c, dict)]
    lines += [f"  flux-fleet validate {dest}",
              f"  (cd {dest} && pre-commit install)   # validate on every commit"]
    lines += [f"  flux-fleet bootstrap {name} --dir {dest}   # the flux bootstrap command; "
              "push the repository first" for name in names or ["CLUSTER"]]
    return lines


def _tenant_repo(answers: dict) -> str:
    name = answers.get("tenant_name")
    for tenant in answers.get("tenants") or []:
        if isinstance(tenant, dict) and tenant.get("name") == name:
            return str(tenant.get("repo_url") or "")
    return ""


def _files(dest: Path) -> int:
    return sum(1 for p in dest.rglob("*") if p.is_file() and ".git" not in p.parts)
