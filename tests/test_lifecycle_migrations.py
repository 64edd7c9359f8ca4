"""A template bump that renames a file ships a Copier migration; plain updates need no --trust."""

from __future__ import annotations

from pathlib import Path

import pytest
from lifecycle_repos import commit, new_fleet, release, template_repo

from flux_fleet.cli import main
from flux_fleet.scaffold import git

OLD = "docs/runbook.md"
NEW = "docs/operations.md"
MIGRATION = f"""
_migrations:
  - version: v2
    when: "{{{{ _stage == 'before' }}}}"
    command: [git, mv, "{OLD}", "{NEW}"]
"""


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1 ships docs/runbook.md; v2 renames it (with a migration); v3 changes its title only."""
    repo = template_repo(tmp_path_factory.mktemp("migrations") / "template")
    runbook = "# Runbook\n\nPage the platform team.\n\nKeep this page short.\n"
    (repo / "template/platform" / OLD).parent.mkdir(parents=True, exist_ok=True)
    (repo / "template/platform" / OLD).write_text(runbook)
    release(repo, "v1 with a runbook", "v1")
    git.run(["mv", f"template/platform/{OLD}", f"template/platform/{NEW}"], repo)
    with (repo / "copier.yml").open("a") as config:
        config.write(MIGRATION)
    release(repo, "v2: runbook renamed", "v2")
    ops = repo / "template/platform" / NEW
    ops.write_text(ops.read_text().replace("# Runbook", "# Operations runbook"))
    release(repo, "v3: runbook text", "v3")
    return repo


def test_rename_migration_needs_trust_and_reports_the_moved_edit(tpl: Path, tmp_path: Path,
                                                               capsys) -> None:
    fleet = new_fleet(tpl, tmp_path / "fleet", "v1")
    runbook = fleet / OLD
    runbook.write_text(runbook.read_text() + "On call: #platform-oncall\n")
    commit(fleet, "our on-call channel")

    assert main(["update", "--to", "v2", "--dir", str(fleet)]) == 2
    assert "--trust" in capsys.readouterr().err
    assert git.status(fleet).clean

    # the migration renames the user's file: the edited file goes away, so the update refuses
    # first; with --force it is backed up, and Copier's 3-way merge, which cannot tell the
    # user's lines from the template's, reports the edit as a conflict, never lost
    assert main(["update", "--to", "v2", "--trust", "--dir", str(fleet)]) == 2
    assert f"{OLD} (edited since it was rendered" in capsys.readouterr().err
    assert git.status(fleet).clean
    assert main(["update", "--to", "v2", "--trust", "--force", "--dir", str(fleet)]) == 1
    assert f"{NEW}: conflict markers" in capsys.readouterr().err
    assert not runbook.exists()
    merged = (fleet / NEW).read_text()
    assert "On call: #platform-oncall" in merged and "<<<<<<< " in merged
    (fleet / NEW).write_text("# Runbook\n\nPage the platform team.\n\nKeep this page short.\n"
                             "On call: #platform-oncall\n")
    git.run(["add", NEW], fleet)
    commit(fleet, "template v2, runbook merged")

    # v2 -> v3 crosses no migration: a plain update, no --trust needed
    assert main(["update", "--to", "v3", "--dir", str(fleet)]) == 0
    text = (fleet / NEW).read_text()
    assert text.startswith("# Operations runbook\n")
    assert text.endswith("On call: #platform-oncall\n")
