"""A platform team installs Flux either way: `flux bootstrap` or the Flux Operator, same answers.

Real Copier renders, real kustomize builds (through the validator), real git and tagged template
repos for the migrations. The Flux Operator CRD is read from ../shared only here, in the tests:
flux-fleet ships neither it nor a schema made from it (AGPL).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from lifecycle_repos import FLUX_V2, REPO_ROOT, commit, new_fleet, template_repo

from flux_fleet.cli import main
from flux_fleet.validate.cel import CelEvaluator, collect_rules, nodes_at

CRD = Path("/work/shared/crds/flux-operator/fluxcd.controlplane.io_fluxinstances.yaml")
if not CRD.is_file():
    CRD = REPO_ROOT.parent.parent / "shared/crds/flux-operator" / CRD.name
INSTANCE = "clusters/{}/flux-system/flux-instance.yaml"
TENANTS = json.dumps([{"name": "dev-team", "repo_url": "https://github.com/example-org/dev-team"}])

# Each answer takes each of its values at least once over these rows (and both providers' URL
# styles), so all options render in both modes without a product of renders.
COMBOS = {
    "defaults": (),
    "everything-on": ("sops=true",
                      "sops_age_recipients=[age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]",
                      "notifications=true", "image_automation=true", "git_provider=gitlab",
                      "repo_url=https://gitlab.com/acme/platform/fleet",
                      "allowed_source_prefixes=[https://github.com/example-org/]",
                      f"tenants={TENANTS}"),
    "no-policies-ssh": ("policies=false", "git_provider=git",
                        "repo_url=ssh://git@git.example.com/acme/fleet.git", "branch=release",
                        "clusters=[{name: only, context: kind-only, env: dev}]", "tenants=[]"),
}


def render(dest: Path, bootstrap: str, *data: str) -> Path:
    args = ["new", str(dest), "--defaults", "--data", f"bootstrap={bootstrap}"]
    for item in data:
        args += ["--data", item]
    assert main(args) == 0
    return dest


def findings(root: Path, tmp: Path, *extra: str) -> list[dict[str, Any]]:
    report = tmp / "report.json"
    main(["validate", str(root), "--strict", "--format", "json", "-o", str(report), *extra])
    return json.loads(report.read_text())["findings"]


def instance(root: Path, cluster: str = "staging") -> dict[str, Any]:
    return yaml.safe_load((root / INSTANCE.format(cluster)).read_text())


def edit_instance(root: Path, cluster: str, old: str, new: str) -> None:
    path = root / INSTANCE.format(cluster)
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def operator_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("op") / "fleet", "flux-operator")


@pytest.mark.parametrize("bootstrap", ["flux-cli", "flux-operator"])
@pytest.mark.parametrize("combo", sorted(COMBOS))
def test_every_answer_combination_validates_clean_with_strict(bootstrap: str, combo: str,
                                                              tmp_path: Path) -> None:
    root = render(tmp_path / "fleet", bootstrap, *COMBOS[combo])
    assert findings(root, tmp_path) == []
    flux_system = {p.name for p in (root / "clusters").glob("*/flux-system/*")}
    if bootstrap == "flux-operator":
        assert flux_system == {"flux-instance.yaml"}, "nothing the operator owns is in the repo"
        if CRD.is_file():  # ../shared holds the operator's CRD (never shipped: AGPL)
            assert_valid_for_the_operator_crd(root)
    else:
        assert flux_system == {"kustomization.yaml", "gotk-sync.yaml", "gotk-components.yaml"}
    # policies, infrastructure and tenants do not depend on the bootstrap mode
    assert (root / "clusters").is_dir() and (root / "infrastructure/base").is_dir()


def test_the_instance_follows_the_answers(tmp_path: Path) -> None:
    root = render(tmp_path / "fleet", "flux-operator", *COMBOS["everything-on"])
    spec = instance(root, "production")["spec"]
    assert spec["distribution"]["version"] == "2.9.4"
    assert "image-automation-controller" in spec["components"]
    assert spec["cluster"]["multitenant"] is True
    assert spec["cluster"]["tenantDefaultServiceAccount"] == "flux"
    assert spec["sync"] == {"kind": "GitRepository", "url": "https://gitlab.com/acme/platform/fleet",
                            "ref": "refs/heads/main", "path": "clusters/production",
                            "pullSecret": "flux-system"}


def assert_valid_for_the_operator_crd(root: Path) -> None:
    """openAPIV3Schema with jsonschema, then every CEL rule of the CRD with the project's cel."""
    version = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    cel = CelEvaluator()
    rules = [r for r in collect_rules(schema) if not r.is_transition]
    assert rules, "the CRD's CEL rules were found"
    paths = sorted((root / "clusters").glob("*/flux-system/flux-instance.yaml"))
    assert paths
    for path in paths:
        obj = yaml.safe_load(path.read_text())
        assert obj["apiVersion"] == f"fluxcd.controlplane.io/{version['name']}"
        jsonschema.validate(obj, schema)
        for rule in rules:
            for where, node in nodes_at(obj, rule.where):
                assert cel.holds(rule.rule, node), f"{path}: {where}: {rule.message}"


@pytest.mark.skipif(not CRD.is_file(), reason="the Flux Operator CRD is not in ../shared")
def test_the_crd_check_can_fail() -> None:
    schema = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    bad = {"apiVersion": "fluxcd.controlplane.io/v1", "kind": "FluxInstance",
           "metadata": {"name": "fleet"}, "spec": {"distribution": {"version": "2.x"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)  # distribution.registry is required
    name_rule = next(r for r in collect_rules(schema) if "metadata.name" in r.rule)
    assert not CelEvaluator().holds(name_rule.rule, bad)


def test_operator_kinds_are_skipped_not_unknown(operator_fleet: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    main(["validate", str(operator_fleet), "--strict", "--format", "json", "-o", str(report)])
    skipped = json.loads(report.read_text())["skipped"]
    assert any("Flux Operator CRD is AGPL, not shipped" in s["reason"] for s in skipped)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("multitenant: true", "multitenant: false", "multitenant is not true"),
    ("tenantDefaultServiceAccount: flux", "tenantDefaultServiceAccount: default",
     "tenantDefaultServiceAccount is 'default'"),
    ("    tenantDefaultServiceAccount: flux\n", "", "tenantDefaultServiceAccount is 'default'"),
])
def test_an_instance_without_the_lockdown_is_ff501(operator_fleet: Path, tmp_path: Path,
                                                    old: str, new: str, message: str) -> None:
    root = tmp_path / "fleet"
    shutil.copytree(operator_fleet, root)
    edit_instance(root, "staging", old, new)
    found = [f for f in findings(root, tmp_path) if f["rule"] == "FF501"]
    assert len(found) == 1 and message in found[0]["message"]
    assert found[0]["file"] == INSTANCE.format("staging") and found[0]["line"] > 1


@pytest.mark.parametrize(("old", "new", "rule"), [
    ("path: clusters/staging", "path: clusters/stagin", "FF607"),
    ("url: https://github.com/example-org/fleet", "url: https://github.com/example-org/old",
     "FF608"),
    ("ref: refs/heads/main", "ref: refs/heads/dev", "FF608"),
    ('version: "2.9.4"', 'version: "2.3.0"', "FF609"),
    ("    - helm-controller\n", "", "FF610"),
])
def test_an_instance_that_drifted_from_the_answers_is_reported(
        operator_fleet: Path, tmp_path: Path, old: str, new: str, rule: str) -> None:
    root = tmp_path / "fleet"
    shutil.copytree(operator_fleet, root)
    edit_instance(root, "staging", old, new)
    found = findings(root, tmp_path)
    assert [f["rule"] for f in found] == [rule]
    assert found[0]["file"] == INSTANCE.format("staging")


def test_bootstrap_prints_the_operator_steps_the_readme_lists(operator_fleet: Path,
                                                              capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    assert main(["bootstrap", "production", "--dir", str(operator_fleet)]) == 0
    steps = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert steps[0].startswith("helm install flux-operator oci://ghcr.io/controlplaneio-fluxcd/")
    assert "flux create secret git flux-system" in steps[1]
    assert steps[2].endswith("apply -f clusters/production/flux-system/flux-instance.yaml")
    readme = (operator_fleet / "README.md").read_text()
    for step in steps:
        assert step in readme
    assert "flux bootstrap github" not in readme
    assert main(["bootstrap", "production", "--run", "--dir", str(operator_fleet)]) == 2


@pytest.fixture(scope="module")
def tpl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("modes") / "template")


def test_a_fleet_migrates_to_the_operator_and_back_keeping_user_edits(tpl: Path,
                                                                      tmp_path: Path) -> None:
    fleet = new_fleet(tpl, tmp_path / "fleet", "v1")
    rbac = fleet / "tenants/base/dev-team/rbac.yaml"
    rbac.write_text(rbac.read_text() + "# reviewed by the platform team\n")
    commit(fleet, "platform team edits")

    assert main(["update", "--data", "bootstrap=flux-operator", "--dir", str(fleet)]) == 0
    assert not (fleet / "clusters/staging/flux-system/gotk-sync.yaml").exists()
    assert instance(fleet)["spec"]["cluster"]["multitenant"] is True
    assert "bootstrap: flux-operator" in (fleet / ".copier-answers.yml").read_text()
    assert findings(fleet, tmp_path, "--ignore", "FF606") == []
    commit(fleet, "bootstrap with the Flux Operator")

    assert main(["update", "--flux-version", FLUX_V2, "--dir", str(fleet)]) == 0
    assert instance(fleet, "production")["spec"]["distribution"]["version"] == "2.9.5"
    commit(fleet, "Flux 2.9.5")

    assert main(["update", "--data", "bootstrap=flux-cli", "--dir", str(fleet)]) == 0
    assert not (fleet / INSTANCE.format("staging")).exists()
    assert (fleet / "clusters/staging/flux-system/kustomization.yaml").is_file()
    assert findings(fleet, tmp_path, "--ignore", "FF606") == []
    assert rbac.read_text().endswith("# reviewed by the platform team\n")


def test_update_refuses_a_bad_bootstrap_value(tpl: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    fleet = new_fleet(tpl, tmp_path / "fleet", "v1")
    assert main(["update", "--data", "bootstrap=helm", "--dir", str(fleet)]) == 2
    assert "bootstrap 'helm': must be one of flux-cli, flux-operator" in capsys.readouterr().err
    assert main(["update", "--data", "tenants=[]", "--dir", str(fleet)]) == 2
