"""A newcomer's first hour: every command the fleet's README and messages print really works."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from flux_fleet.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def new(dest: Path, *data: str) -> Path:
    args = ["new", str(dest), "--defaults"]
    for item in data:
        args += ["--data", item]
    assert main(args) == 0
    return dest


def readme_command(readme: str, starts: str) -> list[str]:
    """The one shell line of the README that starts with ``starts``, split like a shell would."""
    lines = [line.strip() for line in readme.splitlines() if line.strip().startswith(starts)]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def test_the_readme_tenant_command_renders_the_new_tenants_repo(tmp_path: Path) -> None:
    fleet = new(tmp_path / "acme", "fleet_name=acme", "tenants=[{name: dev-team, repo_url: "
                "https://github.com/example-org/dev-team}, {name: team-b, repo_url: "
                "https://github.com/example-org/team-b}]")
    argv = readme_command((fleet / "README.md").read_text(), "copier copy")
    assert argv[-2] == "https://github.com/flux-fleet/flux-fleet" and argv[-1] == "<name>"
    # Offline: the template is this checkout; the version is its working tree.
    argv[-2] = str(REPO_ROOT)
    argv[argv.index("--vcs-ref") + 1] = "HEAD"
    argv = [str(BIN / "copier"), *argv[1:-1], "team-b"]
    argv = [a.replace("<name>", "team-b") for a in argv]
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    answers = yaml.safe_load((tmp_path / "team-b" / ".copier-answers.yml").read_text())
    assert answers["repo_kind"] == "tenant" and answers["tenant_name"] == "team-b"
    assert (tmp_path / "team-b" / "staging" / "kustomization.yaml").is_file()
    assert re.search(r"tenant_name=<name>", (fleet / "README.md").read_text())


def test_urls_with_ports_and_at_the_host_root_render_and_keep_their_port(tmp_path: Path) -> None:
    from flux_fleet.scaffold.bootstrap import bootstrap_argv, load_fleet

    cases = {
        "ssh://git@git.example.com:2222/platform/fleet.git": (
            "gitlab", ["ssh://git@git.example.com:2222/platform/", "https://git.example.com/platform/"],
            ["--hostname=git.example.com", "--ssh-hostname=git.example.com:2222"]),
        "https://gitea.example.com:3000/platform/fleet": (
            "gitea", ["https://gitea.example.com:3000/platform/", "ssh://git@gitea.example.com/platform/"],
            ["--hostname=gitea.example.com:3000"]),
        "https://git.example.com/fleet.git": (
            "git", ["https://git.example.com/", "ssh://git@git.example.com/"], []),
    }
    for i, (url, (provider, prefixes, flags)) in enumerate(cases.items()):
        dest = new(tmp_path / f"f{i}", f"git_provider={provider}", f"repo_url={url}")
        answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
        assert answers["allowed_source_prefixes"] == prefixes, url
        argv = bootstrap_argv(load_fleet(dest), "staging")
        assert [a for a in argv if a.startswith(("--hostname", "--ssh-hostname"))] == flags
        assert " ".join(argv) in (dest / "README.md").read_text(), "README mirrors bootstrap"
        tenant_url = answers["tenants"][0]["repo_url"]
        assert any(tenant_url.startswith(p) for p in prefixes), tenant_url


def test_a_tenant_repo_at_the_host_root_is_a_git_url(tmp_path: Path) -> None:
    new(tmp_path / "fleet", "allowed_source_prefixes=[]",
        "tenants=[{name: team-x, repo_url: 'https://git.example.com/team-x.git'}]")


def test_github_fleet_at_the_host_root_says_what_bootstrap_needs(
        tmp_path: Path, capsys) -> None:
    assert main(["new", str(tmp_path / "f"), "--defaults",
                 "--data", "repo_url=https://github.com/fleet"]) == 2
    err = capsys.readouterr().err
    assert "`flux bootstrap github` needs https://host/owner/repo" in err
    assert "git_provider git" in err


def rendered_rev(commit: str, template_version: str) -> str:
    """The revision the fleet's pre-commit config and CI pin, from the template's own macro."""
    from flux_fleet.scaffold.render import Questionnaire

    env = Questionnaire(REPO_ROOT).env
    source = ("{% import 'template/_shared/macros.jinja' as m with context %}{{ m.rev() }}")
    answers = {"_commit": commit} if commit else {}
    return env.from_string(source).render(_copier_answers=answers,
                                          template_version=template_version)


def test_pre_commit_pins_a_revision_git_can_check_out() -> None:
    assert rendered_rev("v1.4.0", "") == "v1.4.0"
    assert rendered_rev("v1.4.0-3-gabc1234", "") == "abc1234"
    assert rendered_rev("v1.4.0-3-gabc1234-dirty", "") == "abc1234"
    assert rendered_rev("abc1234", "") == "abc1234"
    assert rendered_rev("", "0.0.1.dev28+g1a2b3c4d") == "1a2b3c4d"
    assert rendered_rev("", "0.0.1.dev28+g1a2b3c4d.d20261202") == "1a2b3c4d"
    assert rendered_rev("", "1.4.0") == "v1.4.0"
    assert rendered_rev("", "") == "main"


def test_a_commit_that_only_deletes_files_still_runs_the_hook(tmp_path: Path) -> None:
    """pre-commit skips a hook no staged file matches, and a deleted file matches nothing."""
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["always_run"] for h in hooks] == [True]
    assert all(h["pass_filenames"] is False for h in hooks)
    fleet = new(tmp_path / "fleet")
    config = yaml.safe_load((fleet / ".pre-commit-config.yaml").read_text())
    assert config["repos"][0]["hooks"] == [{"id": "flux-fleet-validate", "always_run": True}]


def test_validate_help_lists_every_exit_code(capsys) -> None:
    assert main(["validate", "--help"]) == 0
    assert re.search(r"\b3 an external tool failed", capsys.readouterr().out)


def test_sops_comment_names_the_secret_the_manifests_use(tmp_path: Path) -> None:
    age = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
    fleet = new(tmp_path / "fleet", "sops=true", f"sops_age_recipients=[{age}]")
    comment = (fleet / ".sops.yaml").read_text()
    assert "<tenant>-sops-age" in comment and "<tenant-ns>/sops-age" not in comment
    sync = (fleet / "tenants" / "base" / "dev-team" / "sync.yaml").read_text()
    assert "dev-team-sops-age" in sync
