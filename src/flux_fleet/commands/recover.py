"""``flux-fleet recover``: finish or roll back a lifecycle command that was interrupted."""

from __future__ import annotations

from pathlib import Path

import click

from flux_fleet.errors import UserError
from flux_fleet.scaffold import atomic, git


@click.command()
@click.option("--finish", "mode", flag_value="finish", help="Complete the interrupted change.")
@click.option("--rollback", "mode", flag_value="rollback",
              help="Return the tree to exactly how it was before the change.")
@click.option("--dir", "root", type=click.Path(path_type=Path, file_okay=False),
              default=Path("."), show_default=True, help="The fleet repository.")
def recover(mode: str | None, root: Path) -> int:
    """Finish or roll back an interrupted `update`, `tenant` or `cluster` command.

    \b
    Example:
      flux-fleet recover --rollback --dir fleet
    """
    if mode is None:
        raise UserError("recover needs --finish or --rollback",
                        hint="`flux-fleet update` (or any lifecycle command) says which state "
                             "the tree is in")
    top = git.toplevel(root)
    if top is None:
        raise UserError(f"{root}: not inside a git repository", hint="pass --dir FLEET")
    operation, found = atomic.recover(top, finish=mode == "finish")
    done = "finished" if mode == "finish" else "rolled back"
    click.echo(f"{done} the interrupted `flux-fleet {operation}` (the tree was {found}); "
               "review with `git status`")
    return 0
