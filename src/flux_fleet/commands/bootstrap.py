"""``flux-fleet bootstrap CLUSTER``: print (or run) the exact ``flux bootstrap`` command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click

from flux_fleet.errors import UserError
from flux_fleet.scaffold.bootstrap import bootstrap_argv, describe, load_fleet, operator_steps


@click.command()
@click.argument("cluster")
@click.option("--dir", "fleet_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("."), show_default=True, help="The fleet repository.")
@click.option("--run", is_flag=True, help="Execute the command instead of printing it.")
@click.option("--personal", is_flag=True,
              help="The repository owner is a user, not an organization.")
@click.option("--username", default=None, help="Git user (bitbucket-server, git over HTTPS).")
def bootstrap(cluster: str, fleet_dir: Path, run: bool, personal: bool,
              username: str | None) -> int:
    """Print the flux bootstrap command (or the Flux Operator steps) for CLUSTER of this fleet.

    \b
    Example:
      flux-fleet bootstrap staging --dir fleet
    """
    fleet = load_fleet(fleet_dir)
    if fleet.bootstrap == "flux-operator":
        steps = operator_steps(fleet, cluster)
        if run:
            raise UserError("--run: this fleet bootstraps with the Flux Operator (several "
                            "commands, one of them needs a secret)",
                            hint="run the printed steps yourself")
        click.echo(steps)
        return 0
    argv = bootstrap_argv(fleet, cluster, personal=personal, username=username)
    if not run:
        click.echo(describe(argv, fleet))
        return 0
    flux = shutil.which("flux")
    if flux is None:
        raise UserError("flux is not on PATH", hint="install the flux CLI: https://fluxcd.io/flux/installation/")
    return subprocess.run([flux, *argv[1:]], check=False).returncode
