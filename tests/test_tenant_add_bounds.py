"""`flux-fleet tenant add` sets a tenant's bounds (Pod Security level, source prefixes, quota,
NetworkPolicy) through the same Copier path as its other answers, and refuses bad ones with
the answers' own message before Copier runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from lifecycle_repos import commit, new_fleet, snapshot, template_repo

from flux_fleet.cli import main
from flux_fleet.scaffold import lifecycle

WEB = ["tenant", "add", "web", "--repo", "https://github.com/example-org/web",
       "--pod-security", "baseline", "--allowed-source-prefix", "https://github.com/example-org/",
       "--allowed-source-prefix", "oci://ghcr.io/example-org/web/", "--quota", "cpu=2",
       "--quota", "pods=20", "--no-network-policy"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fleet with tenant web added with every bound set (a single copier update)."""
    tpl = template_repo(tmp_path_factory.mktemp("bounds") / "template")
    dest = new_fleet(tpl, tpl.parent / "fleet")
    assert main([*WEB, "--dir", str(dest)]) == 0
    commit(dest, "onboard web")
    return dest


def _docs(fleet: Path) -> dict[tuple[str, str], dict[str, Any]]:
    text = (fleet / "tenants" / "base" / "web" / "rbac.yaml").read_text(encoding="utf-8")
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(text) if d}


def test_the_bounds_land_in_the_answers_and_the_rendered_namespace(fleet: Path) -> None:
    stored = yaml.safe_load((fleet / ".copier-answers.yml").read_text(encoding="utf-8"))
    web = next(t for t in stored["tenants"] if t["name"] == "web")
    assert web["pod_security"] == "baseline"
    assert web["allowed_source_prefixes"] == ["https://github.com/example-org/",
                                              "oci://ghcr.io/example-org/web/"]
    assert web["quota"] == {"cpu": "2", "pods": 20} and web["network_policy"] is False
    docs = _docs(fleet)
    ns = docs[("Namespace", "web")]["metadata"]
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    hard = docs[("ResourceQuota", "tenant-quota")]["spec"]["hard"]
    assert (hard["requests.cpu"], hard["pods"], hard["requests.memory"]) == ("2", "20", "8Gi")
    assert not [k for k in docs if k[0] == "NetworkPolicy"]
    others = [t for t in stored["tenants"] if t["name"] != "web"]
    assert others and all("pod_security" not in t and "quota" not in t for t in others)


def test_the_default_bounds_leave_the_answers_alone() -> None:
    """A tenant added without bound options stores none: the template's defaults apply."""
    entry = lifecycle.TenantSpec(name="plain", repo_url="https://github.com/o/plain").entry(
        [{"name": "staging"}])
    assert not {"pod_security", "quota", "allowed_source_prefixes", "network_policy"} & set(entry)


@pytest.mark.parametrize(("option", "message"), [
    (["--allowed-source-prefix", "https://github.com/example-org"], "https://github.com/example-org/"),
    (["--quota", "cpu=lots"], "not a Kubernetes quantity"),
    (["--quota", "gpus=1"], "unknown key 'gpus'"),
    (["--quota", "cpu"], "expected KEY=VALUE"),
])
def test_bad_bounds_are_refused_before_copier_runs(fleet: Path, capsys, option: list[str],
                                                   message: str) -> None:
    before = snapshot(fleet)
    code = main(["tenant", "add", "bad", "--repo", "https://github.com/example-org/bad",
                 *option, "--dir", str(fleet)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert snapshot(fleet) == before
