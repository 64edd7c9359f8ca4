"""``flux-fleet new DEST``: render a fleet (or tenant) repository from the bundled template."""

from __future__ import annotations

from pathlib import Path

import click

from flux_fleet import progress
from flux_fleet.scaffold.render import init_repo, load_data_file, parse_data_args, render_new


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
    click.echo("next steps:")
    click.echo(f"  flux-fleet validate {dest}")
    click.echo(f"  (cd {dest} && pre-commit install)   # validate on every commit")
    click.echo(f"  flux-fleet bootstrap CLUSTER --dir {dest}   # the flux bootstrap command; "
               "push the repository first")
    return 0


def _files(dest: Path) -> int:
    return sum(1 for p in dest.rglob("*") if p.is_file() and ".git" not in p.parts)
