"""A platform engineer renders fleets with real Copier; every overlay builds with real kustomize."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from flux_fleet.bootstrap import bootstrap_argv, load_fleet
from flux_fleet.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCKDOWN = {
    "--no-cross-namespace-refs=true": {"kustomize-controller", "helm-controller",
                                       "notification-controller", "image-reflector-controller",
                                       "image-automation-controller"},
    "--no-remote-bases=true": {"kustomize-controller"},
    "--default-service-account=flux": {"kustomize-controller", "helm-controller"},
}
AGE_KEY = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def kustomize(path: Path) -> list[dict[str, Any]]:
    """Build like Flux does: `kustomize build` when installed, else `kubectl kustomize`."""
    cmd = (["kustomize", "build"] if shutil.which("kustomize") else ["kubectl", "kustomize"])
    out = subprocess.run([*cmd, str(path)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, f"{path}: {out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def yaml_files(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*")):
        if p.suffix in (".yaml", ".yml") and ".git" not in p.parts:
            yield p


def new(dest: Path, *data: str) -> Path:
    args = ["new", str(dest), "--defaults"]
    for item in data:
        args += ["--data", item]
    assert main(args) == 0
    return dest


@pytest.fixture(scope="module")
def fleets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fleets of these stories, rendered once."""
    root = tmp_path_factory.mktemp("fleets")
    copier_dest = root / "copier-defaults"
    out = subprocess.run(["copier", "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD",
                          str(REPO_ROOT), str(copier_dest)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    tenants = [
        {"name": "dev-team", "repo_url": "https://github.com/example-org/dev-team"},
        {"name": "ops", "namespaces": ["ops", "ops-tools"], "role": "cluster-admin",
         "repo_url": "https://github.com/example-org/ops", "clusters": ["production"],
         "paths": {"production": "./deploy/prod"}},
    ]
    return {
        "copier": copier_dest,
        "default": new(root / "default"),
        "small": new(root / "small", "clusters=[{name: only, context: kind-only, env: dev}]",
                     "tenants=[]"),
        "options": new(root / "options", f"tenants={json.dumps(tenants)}", "sops=true",
                       f"sops_age_recipients=[{AGE_KEY}]", "notifications=true",
                       "image_automation=true", "git_provider=gitlab",
                       "repo_url=https://gitlab.com/acme/platform/fleet",
                       "allowed_source_prefixes=[https://github.com/example-org/]"),
        "no-policies": new(root / "no-policies", "policies=false"),
        "tenant": new(root / "tenant", "repo_kind=tenant"),
    }


ALL = ["copier", "default", "small", "options", "no-policies", "tenant"]


def test_copier_and_flux_fleet_new_render_the_same_default_fleet(fleets: dict[str, Path]) -> None:
    def tree(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
                if p.is_file() and p.name != ".copier-answers.yml"}
    copier_tree, new_tree = tree(fleets["copier"]), tree(fleets["default"])
    assert sorted(copier_tree) == sorted(new_tree)
    assert "clusters/staging/flux-system/kustomization.yaml" in new_tree
    assert "tenants/base/dev-team/sync.yaml" in new_tree


@pytest.mark.parametrize("name", ALL)
def test_every_kustomization_builds_and_every_yaml_parses(fleets: dict[str, Path],
                                                           name: str) -> None:
    root = fleets[name]
    dirs = sorted({p.parent for p in root.rglob("kustomization.yaml")})
    assert dirs, "no kustomization.yaml rendered"
    for d in dirs:
        kustomize(d)
    for f in yaml_files(root):
        list(yaml.safe_load_all(f.read_text()))


@pytest.mark.parametrize("name", ["copier", "default", "small", "options", "no-policies"])
def test_every_flux_kustomization_path_into_the_fleet_exists(fleets: dict[str, Path],
                                                             name: str) -> None:
    root = fleets[name]
    seen = 0
    for f in yaml_files(root / "clusters"):
        for d in docs(f):
            if d.get("kind") == "Kustomization" and d["apiVersion"].startswith("kustomize.toolkit"):
                assert d["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
                assert (root / d["spec"]["path"]).is_dir(), f"{f}: {d['spec']['path']}"
                seen += 1
    assert seen >= 3


def test_lockdown_patches_hit_each_controller(fleets: dict[str, Path]) -> None:
    for cluster in ("staging", "production"):
        flux_system = fleets["default"] / "clusters" / cluster / "flux-system"
        kust = docs(flux_system / "kustomization.yaml")[0]
        found: dict[str, set[str]] = {}
        for patch in kust["patches"]:
            ops = yaml.safe_load(patch["patch"])
            for op in ops:
                if op["path"] == "/spec/template/spec/containers/0/args/-":
                    assert op["op"] == "add" and patch["target"]["kind"] == "Deployment"
                    names = patch["target"]["name"].strip("()").split("|")
                    found.setdefault(op["value"], set()).update(names)
                elif op["path"] == "/spec/serviceAccountName":
                    assert patch["target"] == {"kind": "Kustomization", "name": "flux-system"}
                    assert op["value"] == "kustomize-controller"
        assert found == LOCKDOWN
        built = kustomize(fleets["default"] / "clusters" / cluster / "flux-system")
        sync = next(d for d in built if d["kind"] == "Kustomization")
        assert sync["spec"]["serviceAccountName"] == "kustomize-controller"
        assert sync["spec"]["path"] == f"./clusters/{cluster}"


def test_platform_kustomizations_run_as_the_controller_in_dependency_order(
        fleets: dict[str, Path]) -> None:
    clusters = fleets["default"] / "clusters" / "staging"
    ks = {d["metadata"]["name"]: d for f in ("policies", "infrastructure", "tenants")
          for d in docs(clusters / f"{f}.yaml")}
    assert all(k["spec"]["serviceAccountName"] == "kustomize-controller" for k in ks.values())
    assert ks["policies"]["spec"]["wait"] is True
    assert [d["name"] for d in ks["infrastructure"]["spec"]["dependsOn"]] == ["policies"]
    assert [d["name"] for d in ks["tenants"]["spec"]["dependsOn"]] == ["policies", "infrastructure"]
    no_pol = fleets["no-policies"]
    assert not (no_pol / "policies").exists()
    assert not (no_pol / "clusters" / "staging" / "policies.yaml").exists()
    infra = docs(no_pol / "clusters" / "staging" / "infrastructure.yaml")[0]
    assert "dependsOn" not in infra["spec"]


def tenant_objects(root: Path, cluster: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
            for d in kustomize(root / "tenants" / cluster)}


def test_tenant_kustomization_impersonates_its_service_account_and_uses_its_own_source(
        fleets: dict[str, Path]) -> None:
    objs = tenant_objects(fleets["default"], "staging")
    ks = objs[("Kustomization", "dev-team", "dev-team")]
    assert ks["spec"]["serviceAccountName"] == "flux"
    assert ks["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "dev-team",
                                       "namespace": "dev-team"}
    assert ks["spec"]["prune"] is True
    assert objs[("GitRepository", "dev-team", "dev-team")]["spec"]["url"] == \
        "https://github.com/example-org/dev-team"
    ns = objs[("Namespace", "", "dev-team")]
    assert ns["metadata"]["labels"] == {"toolkit.fluxcd.io/tenant": "dev-team"}
    assert ("ServiceAccount", "dev-team", "flux") in objs


def test_rolebinding_binds_admin_by_default_and_cluster_admin_only_when_asked(
        fleets: dict[str, Path]) -> None:
    rb = tenant_objects(fleets["default"], "staging")[("RoleBinding", "dev-team",
                                                       "dev-team-reconciler")]
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": "admin"}
    assert {(s["kind"], s["name"]) for s in rb["subjects"]} == {
        ("ServiceAccount", "flux"), ("User", "gotk:dev-team:reconciler")}
    prod = tenant_objects(fleets["options"], "production")
    assert prod[("RoleBinding", "ops", "ops-reconciler")]["roleRef"]["name"] == "cluster-admin"
    tools = prod[("RoleBinding", "ops-tools", "ops-reconciler")]
    assert ("ServiceAccount", "ops", "flux") in {(s["kind"], s.get("namespace"), s["name"])
                                                 for s in tools["subjects"]}
    assert prod[("RoleBinding", "dev-team", "dev-team-reconciler")]["roleRef"]["name"] == "admin"


def test_each_cluster_syncs_its_environment_folder_of_each_tenant(fleets: dict[str, Path]) -> None:
    for cluster in ("staging", "production"):
        ks = tenant_objects(fleets["default"], cluster)[("Kustomization", "dev-team", "dev-team")]
        assert ks["spec"]["path"] == f"./{cluster}"
    staging = tenant_objects(fleets["options"], "staging")
    assert not any(key[1].startswith("ops") for key in staging), "ops only runs on production"
    prod = tenant_objects(fleets["options"], "production")
    assert prod[("Kustomization", "ops", "ops")]["spec"]["path"] == "./deploy/prod"


def test_options_add_sops_notifications_image_automation_and_gitlab_ci(
        fleets: dict[str, Path]) -> None:
    root = fleets["options"]
    assert AGE_KEY in (root / ".sops.yaml").read_text()
    infra = docs(root / "clusters" / "staging" / "infrastructure.yaml")[0]
    assert infra["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    objs = tenant_objects(root, "production")
    assert objs[("Kustomization", "ops", "ops")]["spec"]["decryption"]["provider"] == "sops"
    for ns in ("dev-team", "ops", "ops-tools"):
        alert = next(v for k, v in objs.items() if k[0] == "Alert" and k[1] == ns)
        assert alert["apiVersion"] == "notification.toolkit.fluxcd.io/v1beta3"
        assert (("Provider", ns, alert["spec"]["providerRef"]["name"])) in objs
    assert (root / ".gitlab-ci.yml").is_file() and not (root / ".github").exists()
    assert "flux-fleet validate" in (root / ".gitlab-ci.yml").read_text()
    readme = (root / "README.md").read_text()
    assert "--components-extra=image-reflector-controller,image-automation-controller" in readme
    assert not (fleets["default"] / ".sops.yaml").exists()


def test_policies_cover_tenant_namespaces_with_the_allowed_prefixes(
        fleets: dict[str, Path]) -> None:
    built = kustomize(fleets["default"] / "policies" / "staging")
    policies = {d["metadata"]["name"]: d for d in built if d["kind"] == "ValidatingAdmissionPolicy"}
    bindings = [d for d in built if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert set(policies) == {b["spec"]["policyName"] for b in bindings}
    assert len(policies) == 4
    for b in bindings:
        assert b["spec"]["validationActions"] == ["Deny"]
        assert b["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
            {"key": "toolkit.fluxcd.io/tenant", "operator": "Exists"}]
    allowed = policies["flux-tenant-allowed-sources"]["spec"]["variables"][0]["expression"]
    assert json.loads(allowed) == ["https://github.com/example-org/",
                                   "ssh://git@github.com/example-org/"]


def test_fleet_readme_pre_commit_and_ci_belong_to_this_fleet(fleets: dict[str, Path]) -> None:
    root = fleets["default"]
    readme = (root / "README.md").read_text()
    fleet = load_fleet(root)
    for cluster in ("staging", "production"):
        assert f"| `{cluster}` |" in readme
        assert " ".join(bootstrap_argv(fleet, cluster)) in readme
    hooks = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())["repos"][0]
    assert hooks["repo"] == "https://github.com/flux-fleet/flux-fleet"
    assert hooks["hooks"] == [{"id": "flux-fleet-validate"}] and hooks["rev"]
    workflow = yaml.safe_load((root / ".github" / "workflows" / "validate.yaml").read_text())
    steps = workflow["jobs"]["validate"]["steps"]
    assert any("flux-fleet validate" in s.get("run", "") for s in steps)
    assert any(hooks["rev"] in s.get("run", "") for s in steps)


def test_one_cluster_without_tenants(fleets: dict[str, Path]) -> None:
    root = fleets["small"]
    assert sorted(p.name for p in (root / "clusters").iterdir()) == ["only"]
    assert kustomize(root / "tenants" / "only") == []
    assert not any((root / "tenants" / "base").glob("*/sync.yaml"))
    assert "--context=kind-only" in (root / "README.md").read_text()


def test_tenant_repo_has_base_and_one_overlay_per_environment(fleets: dict[str, Path]) -> None:
    root = fleets["tenant"]
    for env in ("staging", "production"):
        built = kustomize(root / env)
        assert built and all(d["metadata"]["namespace"] == "dev-team" for d in built)
        assert {d["kind"] for d in built} == {"ConfigMap", "Deployment"}
    assert not (root / "clusters").exists()
    assert "flux-fleet-validate" in (root / ".pre-commit-config.yaml").read_text()
    answers = yaml.safe_load((root / ".copier-answers.yml").read_text())
    assert answers["repo_kind"] == "tenant" and answers["tenant_name"] == "dev-team"


def test_tenant_repo_overlays_follow_nested_paths(tmp_path: Path) -> None:
    tenants = [{"name": "web", "repo_url": "https://github.com/example-org/web",
                "paths": {"staging": "./deploy/staging"}}]
    root = new(tmp_path / "web", "repo_kind=tenant", "tenant_name=web",
               f"tenants={json.dumps(tenants)}")
    assert kustomize(root / "deploy" / "staging")[0]["metadata"]["namespace"] == "web"
    assert kustomize(root / "production")


@pytest.mark.slow
def test_five_clusters_fifty_tenants_render_quickly_without_a_product_of_files(
        tmp_path: Path) -> None:
    clusters = [{"name": f"c{i}", "context": f"ctx-{i}", "env": ["dev", "prod"][i % 2]}
                for i in range(5)]
    tenants = [{"name": f"team-{i:02d}", "repo_url": f"https://github.com/example-org/team-{i}"}
               for i in range(50)]
    start = time.monotonic()
    root = new(tmp_path / "big", f"clusters={json.dumps(clusters)}",
               f"tenants={json.dumps(tenants)}")
    elapsed = time.monotonic() - start
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) <= 50 * 3 + 5 * 9 + 20, len(files)
    assert elapsed < 60, f"render took {elapsed:.1f}s"
    objs = tenant_objects(root, "c3")
    assert objs[("Kustomization", "team-49", "team-49")]["spec"]["path"] == "./prod"
    assert sum(1 for k in objs if k[0] == "Kustomization") == 50
    print(f"5 clusters x 50 tenants: {len(files)} files in {elapsed:.1f}s")
