"""Placing tenants on clusters: `cluster add --tenants`, `tenant place` / `tenant unplace`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from lifecycle_repos import commit, new_fleet, template_repo

from flux_fleet.cli import main


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("placement") / "template")


@pytest.fixture
def fleet(tpl: Path, tmp_path: Path) -> Path:
    return new_fleet(tpl, tmp_path / "fleet", "v1")


def tenant_kustomizations(fleet: Path, cluster: str) -> list[str]:
    path = fleet / "clusters" / cluster / "tenants.yaml"
    if not path.is_file():
        return []
    return [d["metadata"]["name"] for d in yaml.safe_load_all(path.read_text()) if d]


def test_cluster_add_says_where_tenants_go_and_places_all_when_asked(fleet: Path,
                                                                     capsys) -> None:
    assert main(["cluster", "add", "qa", "--context", "qa", "--dry-run", "--dir", str(fleet)]) == 0
    assert "places no tenant on cluster qa" in capsys.readouterr().out, \
        "dev-team names its clusters: by default a new cluster gets it only when asked"
    assert main(["cluster", "add", "qa", "--context", "qa", "--tenants", "all",
                 "--dir", str(fleet)]) == 0
    assert "places tenant(s) dev-team on cluster qa" in capsys.readouterr().out
    assert tenant_kustomizations(fleet, "qa") == ["tenant-dev-team"]


def test_cluster_add_with_no_tenants_then_place_and_unplace_one(fleet: Path, capsys) -> None:
    # no --context: the kube context is the cluster's name, as the template defaults it
    assert main(["cluster", "add", "qa", "--tenants", "none", "--dir", str(fleet)]) == 0
    assert "places no tenant on cluster qa" in capsys.readouterr().out
    answers = yaml.safe_load((fleet / ".copier-answers.yml").read_text())
    assert {"name": "qa", "context": "qa"}.items() <= next(
        c for c in answers["clusters"] if c["name"] == "qa").items()
    assert tenant_kustomizations(fleet, "qa") == []
    assert tenant_kustomizations(fleet, "staging") == ["tenant-dev-team"], "placement kept"
    commit(fleet, "qa")

    assert main(["tenant", "place", "dev-team", "--cluster", "qa", "--dir", str(fleet)]) == 0
    assert tenant_kustomizations(fleet, "qa") == ["tenant-dev-team"]
    commit(fleet, "dev-team on qa")

    assert main(["tenant", "unplace", "dev-team", "--cluster", "staging",
                 "--dir", str(fleet)]) == 0
    assert tenant_kustomizations(fleet, "staging") == []
    assert (fleet / "tenants/base/dev-team/rbac.yaml").is_file(), "the tenant stays"
    commit(fleet, "dev-team off staging")
    capsys.readouterr()

    assert main(["tenant", "unplace", "dev-team", "--cluster", "staging",
                 "--dir", str(fleet)]) == 2
    assert "does not run on cluster 'staging'" in capsys.readouterr().err
    assert main(["cluster", "add", "edge", "--context", "e", "--tenants", "nobody",
                 "--dir", str(fleet)]) == 2
    assert "--tenants: unknown tenant(s) nobody" in capsys.readouterr().err
