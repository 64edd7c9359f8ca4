"""``flux-fleet update`` and ``flux-fleet check-update``: move a fleet to a newer template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from flux_fleet.errors import UserError
from flux_fleet.scaffold import lifecycle
from flux_fleet.scaffold.answers import ANSWER_KEYS
from flux_fleet.scaffold.render import parse_data_args

DIR_OPTION = click.option("--dir", "root", type=click.Path(path_type=Path, file_okay=False),
                          default=Path("."), show_default=True,
                          help="The fleet repository (holds .copier-answers.yml).")


def removal_options(fn: Any) -> Any:
    """--force and --dry-run of `tenant remove` and `cluster remove` (one meaning for both)."""
    fn = click.option("--dry-run", is_flag=True, help="Show the files that would be deleted.")(fn)
    return click.option("--force", is_flag=True, help="Delete or overwrite files of yours too; "
                        "they are backed up first (path printed).")(fn)


def echo_outcome(outcome: lifecycle.Outcome, title: str) -> None:
    """The plan as the user reads it; shared by update, tenant and cluster commands."""
    click.echo(title)
    for line in outcome.plan.lines():
        click.echo(line)
    if outcome.backup is not None:
        click.echo(f"backup of the edited files: {outcome.backup}")
    for note in outcome.notes:
        click.echo(f"note: {note}")
    if outcome.validation is not None:
        n = len(outcome.validation.findings)
        click.echo(f"validated: {n} finding(s), none failing" if n else "validated: clean")
    if outcome.applied:
        click.echo("review with `git diff HEAD` (the changes are staged), then commit")


_OWN_COMMANDS = {"tenants": "flux-fleet tenant add|remove",
                 "clusters": "flux-fleet cluster add|remove"}


def parse_data(items: tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE pairs (VALUE read as YAML, like copier's --data); UserError on a bad one."""
    out: dict[str, Any] = {}
    for key, raw in parse_data_args(items).items():
        item = f"{key}={raw}"
        if key in _OWN_COMMANDS:
            raise UserError(f"--data '{item}': change {key} with `{_OWN_COMMANDS[key]}`")
        if key not in ANSWER_KEYS or key == "repo_kind":
            raise UserError(f"--data '{item}': '{key}' is not an answer update can change",
                            hint="answers: " + ", ".join(
                                k for k in ANSWER_KEYS if k not in (*_OWN_COMMANDS, "repo_kind")))
        try:
            out[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as err:
            raise UserError(f"--data '{item}': the value is not valid YAML ({err})") from err
    return out


@click.command()
@click.option("--to", "ref", default=None, metavar="REF",
              help="Template tag or commit to update to (default: the latest tag).")
@click.option("--flux-version", default=None, metavar="vX.Y.Z",
              help="Move the fleet to this Flux release (a stored answer is otherwise kept).")
@click.option("--data", "data", multiple=True, metavar="KEY=VALUE",
              help="Change an answer (e.g. bootstrap=flux-operator); repeatable. Tenants and "
                   "clusters change with `flux-fleet tenant|cluster`.")
@click.option("--dry-run", is_flag=True, help="Show the files that would change; touch nothing.")
@click.option("--trust", is_flag=True,
              help="Allow the template's migrations (commands) to run; review them first.")
@click.option("--no-validate", is_flag=True, help="Skip `flux-fleet validate` after updating.")
@click.option("--force", is_flag=True, help="Overwrite or delete files of yours (backed up "
              "first), and leave conflict markers to resolve.")
@DIR_OPTION
def update(ref: str | None, flux_version: str | None, data: tuple[str, ...], dry_run: bool,
           trust: bool, no_validate: bool, force: bool, root: Path) -> int:
    """Update the fleet to a newer template version with `copier update`, safely.

    Refuses a dirty tree, fails (exit 1) when Copier leaves any conflict (markers, .rej files,
    unmerged index entries) and lists the files, then validates the fleet.

    \b
    Example:
      flux-fleet update --dry-run --dir fleet
      flux-fleet update --to v1.2.0 --flux-version v2.9.5 --dir fleet
    """
    outcome = lifecycle.update(root, ref, flux_version, dry_run=dry_run, trust=trust,
                               validate=not no_validate, answers=parse_data(data),
                               force=force)
    target = ref or "the latest template tag"
    echo_outcome(outcome, f"{'would update' if dry_run else 'updated'} {root} to {target}:")
    return exit_code(outcome)


def exit_code(outcome: lifecycle.Outcome) -> int:
    """A dry run that predicts conflicts or the loss of files of yours exits 1."""
    plan = outcome.plan
    return 1 if not outcome.applied and (plan.conflicts or plan.edited or plan.overwritten) else 0


@click.command("check-update")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (for CI/bots).")
@DIR_OPTION
def check_update(as_json: bool, root: Path) -> int:
    """Report newer template tags and the Flux release the latest one ships.

    \b
    Example:
      flux-fleet check-update --json --dir fleet
    """
    info = lifecycle.check_update(root)
    if as_json:
        click.echo(json.dumps(info.as_dict(), indent=2))
        return 0
    if info.newer:
        click.echo(f"template: {info.current} -> {info.latest} available "
                   f"({', '.join(info.newer)}); run `flux-fleet update --dir {root}`")
    else:
        click.echo(f"template: {info.current} is the latest")
    if info.flux_update:
        click.echo(f"flux: {info.flux_version} -> {info.flux_latest} available; run "
                   f"`flux-fleet update --flux-version {info.flux_latest} --dir {root}`")
    else:
        click.echo(f"flux: {info.flux_version} is current")
    return 0
