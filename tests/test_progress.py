"""Progress on a terminal: phases and counts on stderr for long commands, nothing when piped
or with --quiet (driven through a real pty, as a user at a keyboard sees it)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from terminal import run_in_terminal

FLUX_FLEET = [sys.executable, "-m", "flux_fleet"]
PHASE = re.compile(r"^\[\s*\d+\.\ds\] (.*)$", re.M)


def on_terminal(tmp: Path, *args: str) -> tuple[list[str], str]:
    """Run with stderr on a pty and stdout in a file: the phases seen, and what stdout got."""
    out = tmp / "stdout.txt"
    cmd = f"exec {shlex.join([*FLUX_FLEET, *args])} >{shlex.quote(str(out))}"
    session = run_in_terminal(["sh", "-c", cmd], lambda _q: "\n", timeout=60)
    assert session.exit_code == 0, session.output
    return PHASE.findall(session.output), out.read_text()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """One fleet rendered by `new` on a terminal (its phases are the first test's subject)."""
    tmp = tmp_path_factory.mktemp("progress")
    phases, stdout = on_terminal(tmp, "new", str(tmp / "fleet"), "--defaults")
    assert "rendered" in stdout
    return tmp / "fleet", phases


def test_new_shows_its_phases_on_a_terminal(fleet: tuple[Path, list[str]]) -> None:
    _, phases = fleet
    assert phases[0].startswith("new: rendering")
    assert "copier: rendering the template" in phases
    rendered = [p for p in phases if p.endswith("files rendered")]
    assert rendered and int(rendered[0].split()[1].replace(",", "")) > 10
    assert phases[-1] == "new: committing the first version"


def test_validate_shows_phases_and_counts_on_stderr_only(
        fleet: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, _ = fleet
    phases, stdout = on_terminal(tmp_path, "validate", str(root), "--format", "json")
    assert phases[0] == f"validate: reading {root}"
    counts = next(p for p in phases if "documents" in p)
    assert re.match(r"validate: \d+ files, \d+ documents, 2 cluster sync roots", counts), counts
    assert any(re.match(r"validate: \d+ Kustomizations built", p) for p in phases), phases
    assert not PHASE.search(stdout) and stdout.lstrip().startswith("{")


@pytest.mark.parametrize("quiet", [["validate", "-q"], ["--quiet", "validate"]])
def test_quiet_shows_no_phases(fleet: tuple[Path, list[str]], tmp_path: Path,
                               quiet: list[str]) -> None:
    root, _ = fleet
    phases, _ = on_terminal(tmp_path, *quiet, str(root))
    assert phases == []


def test_piped_stderr_gets_no_phases(fleet: tuple[Path, list[str]]) -> None:
    root, _ = fleet
    run = subprocess.run([*FLUX_FLEET, "validate", str(root)], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert "documents" in run.stdout  # the run did report
    assert not PHASE.search(run.stderr) and not PHASE.search(run.stdout)


def test_tenant_add_shows_the_copier_update_and_the_validation(
        fleet: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, _ = fleet
    phases, stdout = on_terminal(tmp_path, "tenant", "add", "team-p", "--repo",
                                 "https://github.com/example-org/team-p", "--dir", str(root))
    assert "added tenant team-p" in stdout
    # a full `copier update`, or the answer-only render of the changed part (issue 15)
    assert any(p.startswith(("copier: updating the fleet", "copier: rendering the template"))
               for p in phases), phases
    assert any(p.startswith("validate: ") and "Kustomizations built" in p for p in phases)
