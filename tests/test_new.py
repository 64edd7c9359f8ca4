"""`flux-fleet new DEST` renders offline from the bundled template, with copier's answer options."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from flux_fleet.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]



def answers_of(dest: Path) -> dict[str, object]:
    return yaml.safe_load((dest / ".copier-answers.yml").read_text())


def test_data_file_and_data_combine_with_data_winning(tmp_path: Path) -> None:
    data_file = tmp_path / "answers.yml"
    data_file.write_text(yaml.safe_dump({
        "fleet_name": "from-file", "clusters": [{"name": "edge", "context": "edge-ctx"}],
        "tenants": [], "git_provider": "gitea",
    }))
    dest = tmp_path / "fleet"
    assert main(["new", str(dest), "--defaults", "--data-file", str(data_file),
                 "--data", "fleet_name=from-flag"]) == 0
    recorded = answers_of(dest)
    assert recorded["fleet_name"] == "from-flag"
    assert recorded["clusters"] == [{"name": "edge", "context": "edge-ctx"}]
    assert (dest / "clusters" / "edge" / "flux-system" / "kustomization.yaml").is_file()
    assert (dest / ".gitea" / "workflows" / "validate.yaml").is_file()


def test_yaml_values_in_data_are_parsed_per_question_type(tmp_path: Path) -> None:
    dest = tmp_path / "fleet"
    assert main(["new", str(dest), "--defaults", "--data", "policies=false",
                 "--data", "clusters=[{name: one}]", "--data", "fleet_name=123"]) == 0
    recorded = answers_of(dest)
    assert recorded["policies"] is False
    assert recorded["clusters"] == [{"name": "one"}]
    assert recorded["fleet_name"] == "123"


def test_bad_data_file_is_a_located_input_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    data_file = tmp_path / "answers.yml"
    data_file.write_text("fleet_name: ok\nclusters: [unclosed\n")
    assert main(["new", str(tmp_path / "fleet"), "--data-file", str(data_file)]) == 2
    assert f"{data_file}:" in capsys.readouterr().err
    assert not (tmp_path / "fleet").exists()


def test_data_without_equals_is_rejected(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", str(tmp_path / "fleet"), "--data", "fleet_name"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_a_failing_render_leaves_no_destination(tmp_path: Path) -> None:
    template = tmp_path / "broken-template"
    template.mkdir()
    (template / "copier.yml").write_text("name:\n  type: str\n  default: x\n")
    (template / "file.txt.jinja").write_text("{{ name | no_such_filter }}\n")
    dest = tmp_path / "fleet"
    assert main(["new", str(dest), "--defaults", "--template", str(template)]) != 0
    assert not dest.exists()


def test_renders_a_tagged_template_version(tmp_path: Path) -> None:
    template = tmp_path / "tpl"
    template.mkdir()
    (template / "copier.yml").write_text("name:\n  type: str\n  default: x\n")
    (template / "out.txt.jinja").write_text("v1 {{ name }}\n")
    git = ["git", "-C", str(template)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    subprocess.run([*git, "tag", "v1.0.0"], check=True)
    (template / "out.txt.jinja").write_text("v2 {{ name }}\n")
    subprocess.run([*git, "commit", "-qam", "v2"], check=True)
    dest = tmp_path / "out"
    assert main(["new", str(dest), "--defaults", "--template", str(template),
                 "--vcs-ref", "v1.0.0"]) == 0
    assert (dest / "out.txt").read_text() == "v1 x\n"


def test_version_option() -> None:
    assert main(["--version"]) == 0


def test_a_fleet_rendered_from_the_bundled_copy_records_the_template_url_and_tag(
    tmp_path: Path, monkeypatch
) -> None:
    """Installed from a wheel, the template is no git repo: the fleet must still be updatable."""
    import shutil

    from flux_fleet import resources
    from flux_fleet.scaffold import render

    bundled = tmp_path / "site-packages" / "flux_fleet" / "_template"
    shutil.copytree(REPO_ROOT / "template", bundled / "template")
    shutil.copy(REPO_ROOT / "copier.yml", bundled / "copier.yml")
    monkeypatch.setattr(resources, "template_dir", lambda: bundled)
    monkeypatch.setattr(render, "__version__", "1.4.0")

    dest = render.render_new(tmp_path / "fleet", {}, defaults=True)

    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == "https://github.com/flux-fleet/flux-fleet"
    assert answers["_commit"] == "v1.4.0"
    assert answers["tenants"][0]["name"] == "dev-team"  # the answers themselves are untouched


def test_a_development_build_records_no_release_tag() -> None:
    from flux_fleet.release import release_tag

    assert release_tag("1.4.0") == "v1.4.0"
    assert release_tag("0.0.1.dev3+gba1abb588") is None
    assert release_tag("0.0.0") is None


def test_without_defaults_or_a_terminal_it_says_how_to_answer(tmp_path: Path) -> None:
    import sys

    dest = tmp_path / "fleet"
    proc = subprocess.run([sys.executable, "-m", "flux_fleet", "new", str(dest)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "no terminal to ask them" in proc.stderr and "--defaults" in proc.stderr
    assert "Traceback" not in proc.stderr and not dest.exists()


def test_the_readme_fleet_is_a_git_repository_and_new_says_what_next(tmp_path: Path,
                                                                      capsys) -> None:
    from flux_fleet.scaffold import git

    dest = tmp_path / "fleet"
    assert main(["new", str(dest), "--defaults"]) == 0
    out = capsys.readouterr().out
    assert "git repository with a first commit" in out
    assert "pre-commit install" in out and "flux-fleet bootstrap" in out
    assert git.status(dest).clean and git.run(["log", "--oneline"], dest).strip()
    answers = answers_of(dest)
    assert answers["_src_path"] == "https://github.com/flux-fleet/flux-fleet", "portable"
    assert answers["_commit"], "the version it was rendered at"

    assert main(["new", str(tmp_path / "plain"), "--defaults", "--no-git"]) == 0
    assert not (tmp_path / "plain" / ".git").exists()


def test_new_refuses_a_non_empty_destination_unless_forced(tmp_path: Path, capsys) -> None:
    dest = tmp_path / "fleet"
    dest.mkdir()
    (dest / "notes.md").write_text("mine\n")

    assert main(["new", str(dest), "--defaults"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in dest.iterdir()) == ["notes.md"]

    assert main(["new", str(dest), "--defaults", "--force", "--no-git"]) == 0
    assert (dest / "notes.md").read_text() == "mine\n"
    assert (dest / ".copier-answers.yml").is_file()
