"""`flux-fleet new` ends with the next steps for what it rendered (newcomer walk, issue 13): a
platform fleet names its own clusters' bootstrap commands; a tenant repository is validated with
``--tenant`` and pushed to the URL the fleet syncs it from, never bootstrapped."""

from __future__ import annotations

from pathlib import Path

import yaml

from flux_fleet.commands.new import next_steps


def answers(tmp_path: Path, data: dict) -> Path:
    (tmp_path / ".copier-answers.yml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_a_platform_fleet_lists_a_bootstrap_per_cluster(tmp_path: Path) -> None:
    dest = answers(tmp_path, {"repo_kind": "platform",
                              "clusters": [{"name": "stg"}, {"name": "prd"}]})
    text = "\n".join(next_steps(dest))
    assert f"flux-fleet bootstrap stg --dir {dest}" in text
    assert f"flux-fleet bootstrap prd --dir {dest}" in text
    assert "CLUSTER" not in text and "--tenant" not in text


def test_a_tenant_repo_is_validated_as_one_and_not_bootstrapped(tmp_path: Path) -> None:
    dest = answers(tmp_path, {"repo_kind": "tenant", "tenant_name": "team-b", "tenants": [
        {"name": "dev-team", "repo_url": "https://git.example.com/dev-team"},
        {"name": "team-b", "repo_url": "https://git.example.com/team-b"}]})
    text = "\n".join(next_steps(dest))
    assert f"flux-fleet validate {dest} --tenant" in text
    assert "https://git.example.com/team-b" in text and "bootstrap" not in text


def test_without_git_the_first_step_makes_the_repository(tmp_path: Path) -> None:
    dest = answers(tmp_path, {"repo_kind": "platform", "clusters": [{"name": "stg"}]})
    assert "git -C" not in "\n".join(next_steps(dest))
    assert next_steps(dest, git_repo=False)[1].startswith(f"  git -C {dest} init")
