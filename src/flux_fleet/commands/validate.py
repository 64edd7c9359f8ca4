"""`flux-fleet validate`: parse options, run the pipeline, report, return the exit code."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import click

from flux_fleet.errors import EXIT_FINDINGS, EXIT_OK, UserError

FORMAT_NAMES = ("text", "json", "junit", "sarif", "github")


def _git_toplevel(directory: Path) -> Path | None:
    try:
        out = subprocess.run(["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=False)
    except OSError:
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def resolve_root(paths: Sequence[str]) -> Path:
    """The repository to validate.

    One directory: that directory. File names (as pre-commit passes them): the git work tree
    that holds them, because references and builds need the whole repository; outside git,
    the directory holding them. Files of two repositories are a usage error.
    """
    if not paths:
        return Path.cwd()
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UserError(f"{missing[0]}: no such file or directory",
                        problems=[f"{p}: no such file or directory" for p in missing[1:]],
                        hint="pass the root of the repository to validate (default: .)")
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return Path(paths[0])
    roots: set[Path] = set()
    for p in paths:
        directory = Path(p) if Path(p).is_dir() else (Path(p).parent or Path("."))
        top = _git_toplevel(directory.resolve())
        roots.add(top.resolve() if top else directory.resolve())
    if len(roots) > 1:
        raise UserError("the given paths belong to different repositories",
                        problems=sorted(str(r) for r in roots),
                        hint="validate one repository at a time")
    return roots.pop()


@click.command("validate")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="text",
              show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to FILE instead of standard output.")
@click.option("--select", multiple=True, metavar="RULE",
              help="Only report these rules (codes or prefixes like FF4); repeatable.")
@click.option("--ignore", multiple=True, metavar="RULE",
              help="Do not report these rules (codes or prefixes); repeatable.")
@click.option("--strict", is_flag=True, default=None,
              help="Warnings fail the run; kinds without a schema are findings, not skips.")
@click.option("--tenant", is_flag=True, default=None,
              help="Validate as a tenant repository (nothing cluster-scoped allowed).")
@click.option("--kubeconform", "use_kubeconform", is_flag=True, default=None,
              help="Also run kubeconform (when on PATH) over the built output.")
@click.option("--build/--no-build", "use_build", default=None,
              help="Run the kustomize builds (default); --no-build checks only the files, "
              "for a quick pass in an editor.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=None,
              help="Parallel kustomize builds (0 = one per CPU).")
@click.option("--show-skipped", is_flag=True, help="List what could not be checked offline.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress lines (shown on standard error when it is a terminal).")
def validate(paths: tuple[str, ...], fmt: str, output: str | None, select: tuple[str, ...],
             ignore: tuple[str, ...], strict: bool | None, tenant: bool | None,
             use_kubeconform: bool | None, use_build: bool | None, jobs: int | None,
             show_skipped: bool, quiet: bool) -> int:
    """Validate a Flux repository offline: schemas, builds, references, tenancy.

    PATH is the repository root (default: the current directory). File names, as pre-commit
    passes them, validate the whole repository that holds them.

    \b
    Exit status: 0 clean, 1 errors found (warnings too with --strict),
                 2 usage error or unreadable input (missing PATH, bad config file),
                 3 an external tool failed or an internal error (a crash log is written).
    """
    from flux_fleet import progress
    from flux_fleet.config import Overrides, check_codes, check_tenancy, load_config, merge
    from flux_fleet.report import ReportContext, make_reporter, summary, use_color
    from flux_fleet.validate import available_rules
    from flux_fleet.validate import validate as run_validation

    if quiet:
        progress.stop()
    root = resolve_root(paths)
    refuse_interrupted(root)
    file_config = load_config(root)
    config = merge(file_config, Overrides(
        select=select, ignore=ignore, strict=strict, tenant=tenant,
        kubeconform=use_kubeconform, build=use_build, jobs=jobs))
    rules = available_rules()
    check_codes(config, rules)
    check_tenancy(file_config, config, rules)
    result = run_validation(root, config)

    stream: TextIO
    if output:
        try:
            stream = open(output, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as err:
            raise UserError(f"cannot write {output}: {err.strerror}") from err
    else:
        stream = sys.stdout
    try:
        ctx = ReportContext(rules=rules,
                            color=fmt == "text" and not output and use_color(stream),
                            show_skipped=show_skipped, root=result.root)
        reporter = make_reporter(fmt, stream, ctx)
        for finding in result.findings:
            reporter.write(finding)
        for skipped in result.skipped:
            reporter.skip(skipped)
        reporter.finish(result)
    finally:
        if output:
            stream.close()
        else:
            stream.flush()
    if fmt != "text" or output:
        for note in result.notes if fmt != "text" else ():
            click.echo(note, err=True)
        click.echo(summary(result), err=True)
    return EXIT_FINDINGS if result.failed else EXIT_OK


def refuse_interrupted(root: Path) -> None:
    """A half-applied lifecycle change must not validate as if it were finished (exit 2)."""
    for folder in (root.resolve(), *root.resolve().parents):
        if (folder / ".git" / "flux-fleet" / "in-progress.json").is_file():
            from flux_fleet import atomic

            atomic.guard(folder)
            return
