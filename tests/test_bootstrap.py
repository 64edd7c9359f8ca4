# ruff: noqa: E501 - one provider case per line
"""`flux-fleet bootstrap CLUSTER` prints the exact flux bootstrap command, flag by flag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from flux_fleet.cli import main
from flux_fleet.errors import UserError
from flux_fleet.scaffold.answers import FleetAnswers
from flux_fleet.scaffold.bootstrap import bootstrap_argv

CLUSTERS = [{"name": "staging", "context": "kind-staging", "env": "staging"},
            {"name": "production", "context": "prod-ctx", "env": "production"}]


def fleet(provider: str, url: str, **extra: object) -> FleetAnswers:
    return FleetAnswers.of({"fleet_name": "fleet", "repo_kind": "platform", "git_provider": provider,
                            "repo_url": url, "branch": "trunk", "flux_version": "v2.9.4",
                            "clusters": CLUSTERS, "tenants": [], **extra})


COMMON = ["--branch=trunk", "--path=clusters/production", "--context=prod-ctx", "--version=v2.9.4"]


@pytest.mark.parametrize(("provider", "url", "head"), [
    ("github", "https://github.com/acme/fleet",
     ["flux", "bootstrap", "github", "--owner=acme", "--repository=fleet"]),
    ("github", "https://github.example.com/acme/fleet.git",
     ["flux", "bootstrap", "github", "--hostname=github.example.com", "--owner=acme",
      "--repository=fleet"]),
    ("gitlab", "https://gitlab.com/acme/platform/fleet",
     ["flux", "bootstrap", "gitlab", "--owner=acme/platform", "--repository=fleet"]),
    ("gitlab", "https://git.acme.io/acme/fleet",
     ["flux", "bootstrap", "gitlab", "--hostname=git.acme.io", "--owner=acme", "--repository=fleet"]),
    ("gitea", "https://gitea.acme.io/acme/fleet",
     ["flux", "bootstrap", "gitea", "--hostname=gitea.acme.io", "--owner=acme", "--repository=fleet"]),
    ("bitbucket-server", "https://jdoe@bitbucket.acme.io/scm/plat/fleet.git",
     ["flux", "bootstrap", "bitbucket-server", "--hostname=bitbucket.acme.io", "--owner=plat",
      "--repository=fleet", "--username=jdoe"]),
    ("gitea", "https://gitea.example.com:3000/acme/fleet",
     ["flux", "bootstrap", "gitea", "--hostname=gitea.example.com:3000", "--owner=acme", "--repository=fleet"]),
    ("gitlab", "ssh://git@gitlab.acme.io:2222/acme/fleet.git",
     ["flux", "bootstrap", "gitlab", "--hostname=gitlab.acme.io", "--ssh-hostname=gitlab.acme.io:2222",
      "--owner=acme", "--repository=fleet"]),
])
def test_provider_commands(provider: str, url: str, head: list[str]) -> None:
    argv = bootstrap_argv(fleet(provider, url), "production")
    assert argv == [*head, *COMMON, "--read-write-key=false"]


def test_generic_git_takes_the_url() -> None:
    argv = bootstrap_argv(fleet("git", "ssh://git@git.acme.io/acme/fleet.git"), "staging")
    assert argv == ["flux", "bootstrap", "git", "--url=ssh://git@git.acme.io/acme/fleet.git",
                    "--branch=trunk", "--path=clusters/staging", "--context=kind-staging",
                    "--version=v2.9.4"]


def test_image_automation_adds_components_and_a_read_write_key() -> None:
    argv = bootstrap_argv(fleet("github", "https://github.com/acme/fleet", image_automation=True),
                          "staging", personal=True)
    assert "--components-extra=image-reflector-controller,image-automation-controller" in argv
    assert "--read-write-key=true" in argv and "--personal" in argv
    assert "--read-write-key=false" not in argv


def test_bitbucket_username_flag_wins_over_the_url() -> None:
    argv = bootstrap_argv(fleet("bitbucket-server", "https://bb.acme.io/scm/plat/fleet.git"),
                          "staging", username="ci-bot")
    assert "--username=ci-bot" in argv


def test_unknown_cluster_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match=r"unknown cluster 'qa' \(known: staging, production\)"):
        bootstrap_argv(fleet("github", "https://github.com/acme/fleet"), "qa")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("bootstrap") / "fleet"
    assert main(["new", str(dest), "--defaults", "--data", "fleet_name=acme"]) == 0
    return dest


def test_cli_prints_the_command_and_says_the_key_is_read_only(
        rendered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap", "production", "--dir", str(rendered)]) == 0
    out = capsys.readouterr().out
    assert "read-only (--read-write-key=false is flux's default)" in out
    assert ("flux bootstrap github --owner=example-org --repository=acme --branch=main "
            "--path=clusters/production --context=production --version=v2.9.4 "
            "--read-write-key=false") in out


def test_cli_unknown_cluster_exits_2(rendered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap", "qa", "--dir", str(rendered)]) == 2
    assert "known: staging, production" in capsys.readouterr().err


def test_cli_run_without_flux_on_path_exits_2(rendered: Path, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["bootstrap", "staging", "--run", "--dir", str(rendered)]) == 2
    assert "flux is not on PATH" in capsys.readouterr().err


def test_cli_run_executes_flux_with_the_printed_arguments(
        rendered: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "flux"
    fake.parent.mkdir()
    record = tmp_path / "argv"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert main(["bootstrap", "staging", "--run", "--dir", str(rendered)]) == 0
    assert record.read_text().splitlines()[:3] == ["bootstrap", "github", "--owner=example-org"]


def test_cli_refuses_a_fleet_with_broken_answers(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".copier-answers.yml").write_text(yaml.safe_dump(
        {"repo_kind": "platform", "clusters": [{"name": "Bad"}]}))
    assert main(["bootstrap", "Bad", "--dir", str(tmp_path)]) == 2
    assert "clusters[0].name 'Bad'" in capsys.readouterr().err


def test_cli_without_answers_file_exits_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap", "staging", "--dir", str(tmp_path)]) == 2
    assert ".copier-answers.yml: not found" in capsys.readouterr().err
