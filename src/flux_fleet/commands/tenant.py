"""``flux-fleet tenant add|remove|list``: onboard and offboard tenants through Copier."""

from __future__ import annotations

from pathlib import Path

import click

from flux_fleet.commands.update import DIR_OPTION, echo_outcome, exit_code, removal_options
from flux_fleet.errors import UserError
from flux_fleet.scaffold import answers, lifecycle


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


def _quota(items: tuple[str, ...]) -> dict[str, str | int]:
    """KEY=VALUE sizes; counts (pods, persistentvolumeclaims) as numbers, as the answers hold
    them; the answers' own check says what is wrong with a value."""
    out: dict[str, str | int] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UserError(f"--quota '{item}': expected KEY=VALUE",
                            hint="e.g. --quota cpu=2 --quota memory=4Gi --quota pods=20")
        out[key] = int(value) if key in answers.COUNT_KEYS and value.isdigit() else value
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
@click.option("--pod-security", type=click.Choice(answers.POD_SECURITY_LEVELS), default=None,
              help="Pod Security level of the tenant's namespaces (default: restricted).")
@click.option("--allowed-source-prefix", "prefixes", multiple=True, metavar="URL/",
              help="URL prefix the tenant's sources must start with, ending in / (repeat for "
                   "more; default: the fleet-wide allowed_source_prefixes).")
@click.option("--quota", "quota", multiple=True, metavar="KEY=VALUE",
              help="ResourceQuota size per namespace: cpu, memory, limits_cpu, limits_memory, "
                   "pods, persistentvolumeclaims (repeat; default: the fleet's quota_defaults).")
@click.option("--no-network-policy", is_flag=True,
              help="Render no tenant-isolation NetworkPolicy (other tenants' pods may connect).")
@click.option("--dry-run", is_flag=True, help="Show the files that would change; touch nothing.")
@click.option("--force", is_flag=True, help="Overwrite untracked/ignored files in the way "
              "(backed up first).")
@DIR_OPTION
def add(name: str, namespaces: tuple[str, ...], repo_url: str, branch: str,
        paths: tuple[str, ...], role: str, clusters: str, pod_security: str | None,
        prefixes: tuple[str, ...], quota: tuple[str, ...], no_network_policy: bool,
        dry_run: bool, force: bool, root: Path) -> int:
    """Onboard tenant NAME (a copier update with the new tenants answer).

    \b
    Example:
      flux-fleet tenant add team-b --namespace team-b --repo https://github.com/org/team-b \\
        --path staging=./staging --clusters staging --dir fleet
      flux-fleet tenant add team-c --repo https://github.com/org/team-c --pod-security baseline \\
        --allowed-source-prefix https://github.com/org/team-c/ --quota cpu=2 --quota pods=20
    """
    spec = lifecycle.TenantSpec(
        name=name, repo_url=repo_url, namespaces=namespaces, branch=branch, paths=_paths(paths),
        role=role, clusters=tuple(c.strip() for c in clusters.split(",") if c.strip()),
        pod_security=pod_security, quota=_quota(quota), allowed_source_prefixes=prefixes,
        network_policy=not no_network_policy)
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
