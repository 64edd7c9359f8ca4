"""``flux-fleet sources list|add|remove``: the URL prefixes tenants may pull sources from.

``allowed_source_prefixes`` is an answer like any other, so it changes only through Copier
(``copier update`` with the new list); the admission policy in ``policies/base`` follows.
"""

from __future__ import annotations

from pathlib import Path

import click

from flux_fleet.commands.update import DIR_OPTION, echo_outcome
from flux_fleet.errors import UserError
from flux_fleet.scaffold import lifecycle

KEY = "allowed_source_prefixes"


def _prefixes(fleet: lifecycle.Fleet) -> list[str]:
    if fleet.answers.get("policies", True) is False:
        raise UserError(f"{fleet.root}: policies are off, so no source URL policy exists",
                        hint="turn policies on with `copier update --data policies=true`")
    return [str(p) for p in fleet.answers.get(KEY) or []]


@click.group()
def sources() -> None:
    """List, allow and disallow URL prefixes of tenant sources (the source URL policy).

    \b
    Example:
      flux-fleet sources add https://git.example.com:3000/team-x/ --dir fleet
    """


@sources.command("list")
@DIR_OPTION
def list_(root: Path) -> int:
    """Print one allowed prefix per line (none printed: the source URL policy is off)."""
    for prefix in _prefixes(lifecycle.Fleet(root)):
        click.echo(prefix)
    return 0


@sources.command("add")
@click.argument("prefix")
@click.option("--dry-run", is_flag=True, help="Show the files that would change; touch nothing.")
@DIR_OPTION
def add(prefix: str, dry_run: bool, root: Path) -> int:
    """Allow tenant sources under PREFIX (a copier update with the longer list).

    \b
    Example:
      flux-fleet sources add ssh://git@git.example.com:2222/team-x/ --dir fleet
    """
    fleet = lifecycle.Fleet(root)
    current = _prefixes(fleet)
    if prefix in current:
        raise UserError(f"{KEY}: '{prefix}' is already allowed",
                        hint="`flux-fleet sources list` shows every prefix")
    outcome = lifecycle.change_answers(fleet, {KEY: [*current, prefix]}, "sources-add",
                                       removes=False, dry_run=dry_run)
    echo_outcome(outcome, f"{'would allow' if dry_run else 'allowed'} {prefix}:")
    return 0


@sources.command("remove")
@click.argument("prefix")
@click.option("--dry-run", is_flag=True, help="Show the files that would change; touch nothing.")
@DIR_OPTION
def remove(prefix: str, dry_run: bool, root: Path) -> int:
    """Stop allowing PREFIX; refused while a tenant's repo is under it only.

    Removing the last prefix turns the source URL policy off, so it is refused too: turn the
    policy off on purpose with ``copier update --data 'allowed_source_prefixes=[]'``.
    """
    fleet = lifecycle.Fleet(root)
    current = _prefixes(fleet)
    if prefix not in current:
        raise UserError(f"{KEY}: '{prefix}' is not allowed now (allowed: "
                        f"{', '.join(current) or 'none'})", hint="pass one of the listed prefixes")
    kept = [p for p in current if p != prefix]
    if not kept:
        raise UserError(f"{KEY}: '{prefix}' is the last prefix; removing it would turn the "
                        "source URL policy off",
                        hint="add the replacement first, or turn it off on purpose with "
                             "`copier update --data 'allowed_source_prefixes=[]'`")
    outcome = lifecycle.change_answers(fleet, {KEY: kept}, "sources-remove", removes=True,
                                       dry_run=dry_run)
    echo_outcome(outcome, f"{'would disallow' if dry_run else 'disallowed'} {prefix}:")
    return 0
