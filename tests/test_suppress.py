"""Inline suppression: on the line, on the line above, or for the whole file."""

from __future__ import annotations

from pathlib import Path

from flux_fleet.model import Finding, Severity
from flux_fleet.validate import suppress


def _finding(line: int, rule: str = "FF402", file: str = "a.yaml") -> Finding:
    return Finding(file, line, 1, rule, Severity.ERROR, "problem")


TEXT = """\
apiVersion: v1
kind: ConfigMap  # flux-fleet: ignore FF202
metadata:
  # flux-fleet: ignore FF402, FF403
  # another comment in between
  name: app
data:
  a: "1"  # flux-fleet: ignore
  b: "2"
"""


def test_comment_on_the_line_suppresses_that_line_only() -> None:
    sup = suppress.parse(TEXT)
    assert sup.covers(_finding(2, "FF202"))
    assert not sup.covers(_finding(2, "FF402"))
    assert not sup.covers(_finding(3, "FF202"))


def test_comment_lines_above_apply_to_the_next_code_line() -> None:
    sup = suppress.parse(TEXT)
    assert sup.covers(_finding(6, "FF402")) and sup.covers(_finding(6, "FF403"))
    assert not sup.covers(_finding(6, "FF404"))
    assert not sup.covers(_finding(7, "FF402"))


def test_bare_ignore_suppresses_every_rule_on_its_line() -> None:
    sup = suppress.parse(TEXT)
    assert sup.covers(_finding(8, "FF999"))
    assert not sup.covers(_finding(9, "FF999"))


def test_ignore_file_applies_anywhere_in_the_file() -> None:
    sup = suppress.parse("# flux-fleet: ignore-file FF202\nkind: A\n---\nkind: B\n")
    assert sup.covers(_finding(4, "FF202")) and not sup.covers(_finding(4, "FF203"))


def test_text_without_markers_suppresses_nothing() -> None:
    sup = suppress.parse("kind: A  # ignore FF402\n")
    assert not sup.covers(_finding(1))


def test_apply_splits_kept_and_suppressed_reading_files_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(TEXT)
    (tmp_path / "b.yaml").write_text("kind: A\n")
    findings = [_finding(2, "FF202"), _finding(9, "FF202"), _finding(1, "FF202", "b.yaml"),
                _finding(1, "FF101", "gone.yaml")]
    kept, dropped = suppress.apply(findings, tmp_path)
    assert dropped == [findings[0]]
    assert kept == findings[1:]


def test_files_outside_the_repository_are_never_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("# flux-fleet: ignore-file\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    kept, dropped = suppress.apply([_finding(1, file="../outside.yaml")], repo)
    assert dropped == [] and len(kept) == 1
