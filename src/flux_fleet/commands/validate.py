"""`flux-fleet validate`: parse options, run the pipeline, report, return the exit code."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

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
@click.option("--platform-answers", type=click.Path(dir_okay=False), default=None,
              metavar="PATH",
              help="With --tenant: the fleet's .copier-answers.yml; tenancy rules come from it "
              "(the tenant's namespaces, prefixes, Pod Security level), not from the tenant repo.")
@click.option("--tenant-name", default=None, metavar="NAME",
              help="With --platform-answers: which of the fleet's tenants this repo is "
              "(default: tenant_name in the repo's answers).")
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
             platform_answers: str | None, tenant_name: str | None,
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
    from flux_fleet.validate import available_rules
    from flux_fleet.validate import validate as run_validation
    from flux_fleet.validate.config import Overrides, check_codes, check_tenancy, load_config, merge
    from flux_fleet.validate.report import ReportContext, make_reporter, summary, use_color

    if quiet:
        progress.stop()
    root = resolve_root(paths)
    refuse_interrupted(root)
    platform = None
    if platform_answers is not None:
        tenant = True  # the platform's answers are only for validating a tenant repo
        platform = read_platform_answers(Path(platform_answers), root, tenant_name)
    elif tenant_name is not None:
        raise UserError("--tenant-name needs --platform-answers",
                        hint="pass the fleet's .copier-answers.yml with --platform-answers")
    file_config = load_config(root)
    config = merge(file_config, Overrides(
        select=select, ignore=ignore, strict=strict, tenant=tenant,
        kubeconform=use_kubeconform, build=use_build, jobs=jobs))
    rules = available_rules()
    check_codes(config, rules)
    check_tenancy(file_config, config, rules)
    result = run_validation(root, config, platform)

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
            from flux_fleet.scaffold import atomic

            atomic.guard(folder)
            return


def read_platform_answers(path: Path, root: Path, tenant_name: str | None) -> dict[str, Any]:
    """The fleet's answers, and which of its tenants the repo at ``root`` is (exit 2 when the
    file is unreadable or names no such tenant)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"--platform-answers {path}: {err.strerror}",
                        hint="pass the fleet repository's .copier-answers.yml") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise UserError(f"{where}: not valid YAML", hint="pass the fleet's .copier-answers.yml"
                        ) from err
    if not isinstance(data, dict) or data.get("repo_kind", "platform") != "platform":
        raise UserError(f"{path}: not the answers of a platform repository",
                        hint="pass the fleet repository's .copier-answers.yml")
    names = [t.get("name") for t in data.get("tenants") or [] if isinstance(t, dict)]
    name = tenant_name
    if name is None:
        own = root / ".copier-answers.yml"
        try:
            mine = yaml.safe_load(own.read_text(encoding="utf-8")) if own.is_file() else None
        except (OSError, yaml.YAMLError):
            mine = None
        name = mine.get("tenant_name") if isinstance(mine, dict) else None
    if not isinstance(name, str) or name not in names:
        raise UserError(
            f"{path}: the fleet has no tenant {name!r} (tenants: {', '.join(map(str, names))})",
            hint="pass --tenant-name with one of the fleet's tenants")
    return {**data, "tenant_name": name}
