"""``flux-fleet cluster add|remove|list``: add and drop clusters through Copier."""

from __future__ import annotations

from pathlib import Path

import click

from flux_fleet.commands.update import DIR_OPTION, echo_outcome, exit_code, removal_options
from flux_fleet.scaffold import lifecycle


@click.group()
def cluster() -> None:
    """Add, remove and list the fleet's clusters (answers change only through Copier).

    \b
    Example:
      flux-fleet cluster add qa --context qa-admin --env qa --dir fleet
    """


@cluster.command("add")
@click.argument("name")
@click.option("--context", default=None, metavar="CTX",
              help="kube context for bootstrap (default: the cluster's name, as the template's).")
@click.option("--env", default=None, help="Environment (overlay) it runs (default: NAME).")
@click.option("--dry-run", is_flag=True, help="Show the files that would change; touch nothing.")
@click.option("--force", is_flag=True, help="Overwrite untracked/ignored files in the way "
              "(backed up first).")
@click.option("--tenants", "tenants_on", default=None, metavar="all|none|A,B",
              help="Tenants to run on the new cluster (default: as the answers say - only "
                   "tenants that name no clusters).")
@DIR_OPTION
def add(name: str, context: str | None, env: str | None, dry_run: bool, force: bool,
        tenants_on: str | None, root: Path) -> int:
    """Add cluster NAME (a copier update with the new clusters answer).

    \b
    Example:
      flux-fleet cluster add qa --context qa-admin --env staging --dir fleet
    """
    outcome = lifecycle.add_cluster(root, name, context or name, env, dry_run=dry_run, force=force,
                                     tenants_on=tenants_on)
    echo_outcome(outcome, f"{'would add' if dry_run else 'added'} cluster {name}:")
    return exit_code(outcome)


@cluster.command("remove")
@click.argument("name")
@removal_options
@DIR_OPTION
def remove(name: str, force: bool, dry_run: bool, root: Path) -> int:
    """Remove cluster NAME; refuses to delete files you edited unless --force.

    \b
    Example:
      flux-fleet cluster remove qa --dry-run --dir fleet
    """
    outcome = lifecycle.remove_cluster(root, name, force=force, dry_run=dry_run)
    echo_outcome(outcome, f"{'would remove' if dry_run else 'removed'} cluster {name}:")
    return exit_code(outcome)


@cluster.command("list")
@DIR_OPTION
def list_(root: Path) -> int:
    """List the clusters in the fleet's answers.

    \b
    Example:
      flux-fleet cluster list --dir fleet
    """
    for c in lifecycle.clusters(root):
        click.echo(f"{c.get('name')}\tcontext={c.get('context') or c.get('name')}"
                   f"\tenv={c.get('env') or c.get('name')}")
    return 0
