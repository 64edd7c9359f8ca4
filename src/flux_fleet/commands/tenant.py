"""``flux-fleet tenant add|remove|list``: onboard and offboard tenants through Copier."""

from __future__ import annotations

from pathlib import Path

import click

from flux_fleet.commands.update import DIR_OPTION, echo_outcome, exit_code, removal_options
from flux_fleet.errors import UserError
from flux_fleet.scaffold import lifecycle


@click.group()
def tenant() -> None:
    """Add, remove and list the fleet's tenants (answers change only through Copier).

    \b
    Example:
      flux-fleet tenant add team-b --namespace team-b --repo https://github.com/org/team-b
    """


def _paths(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        env, sep, path = item.partition("=")
        if not sep or not env or not path:
            raise UserError(f"--path '{item}': expected ENV=PATH", hint="e.g. --path staging=./stg")
        out[env] = path
    return out


@tenant.command("add")
@click.argument("name")
@click.option("--namespace", "namespaces", multiple=True, metavar="NS",
              help="Namespace of the tenant (repeat for more; default: NAME).")
@click.option("--repo", "repo_url", required=True, metavar="URL", help="The tenant's git repo.")
@click.option("--branch", default="main", show_default=True, help="Branch Flux syncs.")
@click.option("--path", "paths", multiple=True, metavar="ENV=PATH",
              help="Folder in the tenant repo for an environment (default ./ENV).")
@click.option("--role", default="admin", show_default=True,
              help="ClusterRole bound in the tenant namespaces (cluster-admin only if you must).")
@click.option("--clusters", default="", metavar="A,B", help="Clusters to run on (default: all).")
@click.option("--dry-run", is_flag=True, help="Show the files that would change; touch nothing.")
@click.option("--force", is_flag=True, help="Overwrite untracked/ignored files in the way "
              "(backed up first).")
@DIR_OPTION
def add(name: str, namespaces: tuple[str, ...], repo_url: str, branch: str,
        paths: tuple[str, ...], role: str, clusters: str, dry_run: bool, force: bool,
        root: Path) -> int:
    """Onboard tenant NAME (a copier update with the new tenants answer).

    \b
    Example:
      flux-fleet tenant add team-b --namespace team-b --repo https://github.com/org/team-b \\
        --path staging=./staging --clusters staging --dir fleet
    """
    spec = lifecycle.TenantSpec(
        name=name, repo_url=repo_url, namespaces=namespaces, branch=branch, paths=_paths(paths),
        role=role, clusters=tuple(c.strip() for c in clusters.split(",") if c.strip()))
    outcome = lifecycle.add_tenant(root, spec, dry_run=dry_run, force=force)
    echo_outcome(outcome, f"{'would add' if dry_run else 'added'} tenant {name}:")
    return exit_code(outcome)


@tenant.command("remove")
@click.argument("name")
@removal_options
@DIR_OPTION
def remove(name: str, force: bool, dry_run: bool, root: Path) -> int:
    """Offboard tenant NAME; refuses to delete files you edited unless --force.

    \b
    Example:
      flux-fleet tenant remove team-b --dry-run --dir fleet
    """
    outcome = lifecycle.remove_tenant(root, name, force=force, dry_run=dry_run)
    echo_outcome(outcome, f"{'would remove' if dry_run else 'removed'} tenant {name}:")
    return exit_code(outcome)


@tenant.command("place")
@click.argument("name")
@click.option("--cluster", required=True, metavar="CLUSTER", help="The cluster to run it on.")
@click.option("--dry-run", is_flag=True, help="Show the files that would change; touch nothing.")
@DIR_OPTION
def place(name: str, cluster: str, dry_run: bool, root: Path) -> int:
    """Run tenant NAME on CLUSTER too (the tenant's files stay as they are).

    \b
    Example:
      flux-fleet tenant place team-b --cluster qa --dir fleet
    """
    outcome = lifecycle.place_tenant(root, name, cluster, on=True, dry_run=dry_run)
    echo_outcome(outcome, f"{'would place' if dry_run else 'placed'} tenant {name} on {cluster}:")
    return exit_code(outcome)


@tenant.command("unplace")
@click.argument("name")
@click.option("--cluster", required=True, metavar="CLUSTER", help="The cluster to take it off.")
@removal_options
@DIR_OPTION
def unplace(name: str, cluster: str, force: bool, dry_run: bool, root: Path) -> int:
    """Stop running tenant NAME on CLUSTER, keeping the tenant; refuses to drop your edits.

    \b
    Example:
      flux-fleet tenant unplace team-b --cluster qa --dir fleet
    """
    outcome = lifecycle.place_tenant(root, name, cluster, on=False, force=force, dry_run=dry_run)
    echo_outcome(outcome, f"{'would take' if dry_run else 'took'} tenant {name} off {cluster}:")
    return exit_code(outcome)


@tenant.command("list")
@DIR_OPTION
def list_(root: Path) -> int:
    """List the tenants in the fleet's answers.

    \b
    Example:
      flux-fleet tenant list --dir fleet
    """
    for t in lifecycle.tenants(root):
        namespaces = ",".join(t.get("namespaces") or [t.get("name")])
        on = ",".join(t.get("clusters") or []) or "all clusters"
        click.echo(f"{t.get('name')}\tnamespaces={namespaces}\trole={t.get('role', 'admin')}"
                   f"\tclusters={on}\trepo={t.get('repo_url')}")
    return 0
