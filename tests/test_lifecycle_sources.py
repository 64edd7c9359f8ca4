"""`flux-fleet sources`: a tenant outside the allowed prefixes is refused with the way out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lifecycle_repos import commit, new_fleet, template_repo

from flux_fleet.cli import main

OUTSIDE = "https://gitea.example.com:3000/team-x/apps"


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("sources") / "template")


def allowed_in_policy(fleet: Path) -> list[str]:
    """The prefixes the source policy admits for dev-team (read from its Namespace)."""
    assert (fleet / "policies" / "base" / "allowed-sources.yaml").is_file()
    text = (fleet / "tenants" / "base" / "dev-team" / "rbac.yaml").read_text()
    ns = next(d for d in yaml.safe_load_all(text) if d and d["kind"] == "Namespace")
    return str(ns["metadata"]["annotations"]["flux-fleet.io/allowed-source-prefixes"]).split(",")


def test_a_refused_tenant_is_told_how_to_allow_its_prefix(tpl: Path, tmp_path: Path,
                                                          capsys) -> None:
    fleet = new_fleet(tpl, tmp_path / "fleet")
    add_x = ["tenant", "add", "team-x", "--repo", OUTSIDE, "--dir", str(fleet)]

    assert main(add_x) == 2
    err = capsys.readouterr().err
    assert "https://github.com/example-org/, ssh://git@github.com/example-org/" in err
    assert "flux-fleet sources add <prefix>" in err

    assert main(["sources", "add", "https://gitea.example.com:3000/team-x/",
                 "--dir", str(fleet)]) == 0
    assert allowed_in_policy(fleet)[-1] == "https://gitea.example.com:3000/team-x/"
    commit(fleet, "allow team-x's server")
    capsys.readouterr()
    assert main(["sources", "list", "--dir", str(fleet)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "https://gitea.example.com:3000/team-x/"

    assert main(add_x) == 0


def test_the_last_prefix_is_not_removed_by_accident(tpl: Path, tmp_path: Path, capsys) -> None:
    fleet = new_fleet(tpl, tmp_path / "fleet")
    assert main(["sources", "remove", "ssh://git@github.com/example-org/", "--dir",
                 str(fleet)]) == 0
    commit(fleet, "https only")
    assert allowed_in_policy(fleet) == ["https://github.com/example-org/"]
    assert main(["sources", "remove", "https://github.com/example-org/", "--dir",
                 str(fleet)]) == 2
    assert "would turn the source URL policy off" in capsys.readouterr().err
