"""Command-line entry point: parses, dispatches, and maps exceptions to exit codes in one place.

Subcommands live in ``flux_fleet.commands.<name>`` and are imported lazily, so ``flux-fleet
validate`` as a pre-commit hook does not pay for importing copier.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import traceback
from collections.abc import Sequence

import click

import flux_fleet
from flux_fleet import progress
from flux_fleet.errors import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, FleetError, UserError

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "new": "flux_fleet.commands.new:new",
    "bootstrap": "flux_fleet.commands.bootstrap:bootstrap",
    "validate": "flux_fleet.commands.validate:validate",
    "rules": "flux_fleet.commands.rules:rules",
    "schemas": "flux_fleet.commands.schemas:schemas",
    "update": "flux_fleet.commands.update:update",
    "check-update": "flux_fleet.commands.update:check_update",
    "tenant": "flux_fleet.commands.tenant:tenant",
    "cluster": "flux_fleet.commands.cluster:cluster",
    "sources": "flux_fleet.commands.sources:sources",
    "recover": "flux_fleet.commands.recover:recover",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


def _print_version(ctx: click.Context) -> None:
    click.echo(f"flux-fleet, version {flux_fleet.__version__}")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              help="Show the version and exit.",
              callback=lambda ctx, _param, value: _print_version(ctx) if value else None)
@click.option("--quiet", "-q", is_flag=True,
              help="No progress lines (they go to standard error on a terminal only).")
def cli(quiet: bool) -> None:
    """Scaffold, validate and keep up to date a multi-tenant Flux CD fleet.

    \b
    Example:
      flux-fleet new fleet --defaults && flux-fleet validate fleet
    """
    progress.start(quiet=quiet)


def _report_error(err: FleetError) -> None:
    click.echo(f"error: {err.message}", err=True)
    for problem in getattr(err, "problems", ()):
        click.echo(f"  {problem}", err=True)
    if err.hint:
        click.echo(f"fix: {err.hint}", err=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (callable from tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = cli.main(args=args, prog_name="flux-fleet", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except UserError as err:
        _report_error(err)
        return err.exit_code
    except FleetError as err:
        _report_error(err)
        return err.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # the one place unexpected errors become exit 3
        with tempfile.NamedTemporaryFile("w", prefix="flux-fleet-crash-", suffix=".log",
                                         delete=False) as log:
            log.write(f"flux-fleet {flux_fleet.__version__}\nargs: {args!r}\n\n"
                      f"{traceback.format_exc()}")
        click.echo(f"internal error: {type(exc).__name__}: {exc} (details: {log.name}; "
                   "please report it)", err=True)
        return EXIT_INTERNAL
    finally:
        progress.stop()
    return int(rv) if isinstance(rv, int) else EXIT_OK


def run() -> None:
    sys.exit(main())
