"""`flux-fleet schemas build|check`: (re)generate the JSON Schema store and detect drift."""

from __future__ import annotations

from pathlib import Path

import click

from flux_fleet.errors import EXIT_FINDINGS, EXIT_OK
from flux_fleet.resources import schemas_dir

_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
_crds = click.option("--crds", type=_DIR, required=True,
                     help="Folder of CRD YAML files (searched recursively), e.g. the Flux CRDs.")
_kubernetes = click.option(
    "--kubernetes", type=_DIR, required=True,
    help="kubernetes-validate '-local-strict' schema folder (holds _definitions.json).")


@click.group()
def schemas() -> None:
    """Build or check the JSON Schema store (kubeconform's layout) used by `validate`."""


@schemas.command()
@_crds
@_kubernetes
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Store folder to write (default: the store bundled with flux-fleet).")
def build(crds: Path, kubernetes: Path, out: Path | None) -> int:
    """Generate strict schemas from CRDs and Kubernetes schemas into the store.

    \b
    Example:
      flux-fleet schemas build --crds ../shared/crds/flux \\
        --kubernetes ../shared/crds/kubernetes/v1.37.0-local-strict --out schemas
    """
    from flux_fleet.validate.schemas_build import build_store, write_store

    target = out or schemas_dir()
    files = build_store(crds, kubernetes)
    write_store(files, target)
    click.echo(f"wrote {len(files) - 1} schemas and index.json to {target}")
    return EXIT_OK


@schemas.command()
@_crds
@_kubernetes
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Store folder to compare (default: the store bundled with flux-fleet).")
def check(crds: Path, kubernetes: Path, store: Path | None) -> int:
    """Fail (exit 1) when the store differs from what `schemas build` would write."""
    from flux_fleet.validate.schemas_build import build_store, store_drift

    target = store or schemas_dir()
    problems = store_drift(build_store(crds, kubernetes), target)
    for line in problems:
        click.echo(f"{target}/{line}")
    if problems:
        click.echo(f"schema store drifted ({len(problems)} files); fix: run `flux-fleet schemas "
                   "build` with the same --crds/--kubernetes", err=True)
        return EXIT_FINDINGS
    click.echo(f"schema store {target} is up to date")
    return EXIT_OK
