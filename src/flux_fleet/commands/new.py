"""``flux-fleet new DEST``: render a fleet (or tenant) repository from the bundled template."""

from __future__ import annotations

from pathlib import Path

import click

from flux_fleet.render import load_data_file, parse_data_args, render_new


@click.command()
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False))
@click.option("--data", "-d", "data_args", multiple=True, metavar="KEY=VALUE",
              help="An answer; YAML values (lists) are parsed per question type, as copier does.")
@click.option("--data-file", type=click.Path(path_type=Path, dir_okay=False),
              help="A YAML file of answers; --data wins over it.")
@click.option("--defaults", is_flag=True, help="Use the default for every question not answered.")
@click.option("--vcs-ref", default=None,
              help="Git ref of the template to render (tag, branch, HEAD).")
@click.option("--template", default=None, metavar="SRC",
              help="Another copy of the template (path or git URL); default: the bundled one.")
def new(dest: Path, data_args: tuple[str, ...], data_file: Path | None, defaults: bool,
        vcs_ref: str | None, template: str | None) -> int:
    """Render a new fleet repository into DEST.

    \b
    Example:
      flux-fleet new fleet --defaults --data fleet_name=acme
    """
    data = load_data_file(data_file) if data_file else {}
    # A fleet's .copier-answers.yml is a fine data file (a tenant repo starts from it): its
    # _commit/_src_path say where the fleet came from and are no answers.
    data = {k: v for k, v in data.items() if not str(k).startswith("_")}
    data.update(parse_data_args(data_args))
    render_new(dest, data, defaults=defaults, vcs_ref=vcs_ref, template=template)
    click.echo(f"rendered {dest}; next: flux-fleet validate {dest}")
    return 0
