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

from flux_fleet.cli import main
from flux_fleet.scaffold.bootstrap import bootstrap_argv, load_fleet

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
    args = ["new", str(dest), "--defaults", "--no-git"]
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
    assert sorted(ks) == ["infrastructure", "infrastructure-configs", "policies",
                          "tenant-dev-team"]
    assert all(k["spec"]["serviceAccountName"] == "kustomize-controller" for k in ks.values())
    assert ks["policies"]["spec"]["wait"] is True
    assert [d["name"] for d in ks["infrastructure"]["spec"]["dependsOn"]] == ["policies"]
    assert [d["name"] for d in ks["infrastructure-configs"]["spec"]["dependsOn"]] == [
        "infrastructure"]
    assert [d["name"] for d in ks["tenant-dev-team"]["spec"]["dependsOn"]] == [
        "policies", "infrastructure-configs"]
    no_pol = fleets["no-policies"]
    assert not (no_pol / "policies").exists()
    assert not (no_pol / "clusters" / "staging" / "policies.yaml").exists()
    infra = docs(no_pol / "clusters" / "staging" / "infrastructure.yaml")[0]
    assert "dependsOn" not in infra["spec"]
    tenant = docs(no_pol / "clusters" / "staging" / "tenants.yaml")[0]
    assert [d["name"] for d in tenant["spec"]["dependsOn"]] == ["infrastructure-configs"]


def tenant_kustomizations(root: Path, cluster: str) -> dict[str, dict[str, Any]]:
    """The Flux Kustomizations of clusters/<cluster>/tenants.yaml, by tenant."""
    found = docs(root / "clusters" / cluster / "tenants.yaml")
    return {d["metadata"]["labels"]["toolkit.fluxcd.io/tenant"]: d for d in found}


def flux_build(root: Path, ks: dict[str, Any]) -> list[dict[str, Any]]:
    """What kustomize-controller applies for ``ks``: its path built, then postBuild.substitute."""
    cmd = (["kustomize", "build"] if shutil.which("kustomize") else ["kubectl", "kustomize"])
    out = subprocess.run([*cmd, str(root / ks["spec"]["path"])], capture_output=True, text=True,
                         check=True).stdout
    for name, value in ks["spec"].get("postBuild", {}).get("substitute", {}).items():
        out = out.replace("${" + name + "}", value)
    assert "${" not in out, f"{ks['metadata']['name']}: a variable is left unsubstituted"
    return [d for d in yaml.safe_load_all(out) if d]


def tenant_objects(root: Path, cluster: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every object the cluster's tenant Kustomizations apply."""
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
            for ks in tenant_kustomizations(root, cluster).values()
            for d in flux_build(root, ks)}


def test_each_tenant_is_its_own_flux_kustomization_on_each_of_its_clusters(
        fleets: dict[str, Path]) -> None:
    root = fleets["options"]
    assert not [p for p in (root / "tenants").iterdir() if p.name != "base"], \
        "no per-cluster tenant overlay: every cluster builds the shared tenants/base/<tenant>/"
    assert sorted(tenant_kustomizations(root, "staging")) == ["dev-team"]
    assert sorted(tenant_kustomizations(root, "production")) == ["dev-team", "ops"]
    for cluster, env in (("staging", "staging"), ("production", "production")):
        for tenant, ks in tenant_kustomizations(root, cluster).items():
            assert ks["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
            assert ks["metadata"] == {"name": f"tenant-{tenant}", "namespace": "flux-system",
                                      "labels": {"toolkit.fluxcd.io/tenant": tenant}}
            assert ks["spec"]["path"] == f"./tenants/base/{tenant}"
            assert ks["spec"]["prune"] is True
            expected = "./deploy/prod" if tenant == "ops" else f"./{env}"
            assert ks["spec"]["postBuild"] == {"substitute": {"tenant_path": expected}}
    sync = docs(root / "tenants" / "base" / "ops" / "sync.yaml")
    assert next(d for d in sync if d["kind"] == "Kustomization")["spec"]["path"] == \
        "${tenant_path}"
    assert sorted(p.name for p in (root / "tenants" / "base" / "ops").iterdir()) == [
        "kustomization.yaml", "rbac.yaml", "sync.yaml"]


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
    assert ns["metadata"]["labels"] == {
        "toolkit.fluxcd.io/tenant": "dev-team",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted"}
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


@pytest.mark.parametrize("name", ["copier", "default", "small", "options", "no-policies"])
def test_every_rendered_fleet_validates_clean(fleets: dict[str, Path], name: str,
                                             tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    main(["validate", str(fleets[name]), "--format", "json", "-o", str(report)])
    rules = {f["rule"] for f in json.loads(report.read_text())["findings"]}
    # options asks for cluster-admin for tenant ops: FF507 warns about it, by design
    assert rules == ({"FF507"} if name == "options" else set())


def test_clusters_of_one_environment_share_a_tenant_path_and_the_validator_sees_it(
        tmp_path: Path) -> None:
    """3 clusters in 2 environments, 3 tenants; web keeps staging in ./deploy/stg, api skips
    stg-us. Each cluster's tenant Kustomization is built from the same tenants/base/<tenant>/
    and gets its environment's folder, in Flux (kustomize + postBuild) and in the validator."""
    clusters = [{"name": "stg-eu", "env": "staging"}, {"name": "stg-us", "env": "staging"},
                {"name": "prod", "env": "production"}]
    tenants = [
        {"name": "web", "repo_url": "https://github.com/example-org/web",
         "paths": {"staging": "./deploy/stg"}},
        {"name": "api", "repo_url": "https://github.com/example-org/api",
         "clusters": ["stg-eu", "prod"]},
        {"name": "ops", "namespaces": ["ops", "ops-tools"],
         "repo_url": "https://github.com/example-org/ops"},
    ]
    root = new(tmp_path / "fleet", f"clusters={json.dumps(clusters)}",
               f"tenants={json.dumps(tenants)}")
    expected = {
        "stg-eu": {"web": "./deploy/stg", "api": "./staging", "ops": "./staging"},
        "stg-us": {"web": "./deploy/stg", "ops": "./staging"},
        "prod": {"web": "./production", "api": "./production", "ops": "./production"},
    }
    for cluster, paths in expected.items():
        objs = tenant_objects(root, cluster)
        assert {k[2]: v["spec"]["path"] for k, v in objs.items()
                if k[0] == "Kustomization"} == paths

    from flux_fleet.validate import loader
    from flux_fleet.validate.checks import build

    loaded = loader.load_tree(root)
    cls = build.classify(loaded.documents)
    result = build.build_all(root, loaded.documents, build.file_objects(loaded.documents, cls),
                             classification=cls, listing=loaded.discovered)
    seen: dict[str, dict[str, str]] = {}
    for key, built in result.built.items():
        for obj in built:
            if obj.id.kind == "Kustomization" and obj.id.namespace != "flux-system":
                cluster = key.file.split("/")[1]
                seen.setdefault(cluster, {})[obj.id.name] = obj.data["spec"]["path"]
    assert seen == expected
    assert result.findings == []
    assert result.count == 4 * 3 + 3, "each tenants/base/<tenant>/ is built once, not per cluster"
    report = tmp_path / "report.json"
    assert main(["validate", str(root), "--format", "json", "-o", str(report)]) == 0
    assert json.loads(report.read_text())["findings"] == []


def test_options_add_sops_notifications_image_automation_and_gitlab_ci(
        fleets: dict[str, Path]) -> None:
    root = fleets["options"]
    assert AGE_KEY in (root / ".sops.yaml").read_text()
    infra = docs(root / "clusters" / "staging" / "infrastructure.yaml")[0]
    assert infra["spec"]["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}
    objs = tenant_objects(root, "production")
    assert objs[("Kustomization", "ops", "ops")]["spec"]["decryption"] == {
        "provider": "sops", "secretRef": {"name": "ops-sops-age"}}, \
        "a tenant decrypts with its own key, never the platform's sops-age"
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
    assert len(policies) == 11  # policies/base: one per guarded vector family
    assert all(p["spec"]["failurePolicy"] == "Fail" for p in policies.values())
    for b in bindings:
        assert b["spec"]["validationActions"] == ["Deny"]
        assert b["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
            {"key": "toolkit.fluxcd.io/tenant", "operator": "Exists"}]
    # the policy reads each tenant's prefixes from its Namespace (fleet-wide list by default)
    ns = tenant_objects(fleets["default"], "staging")[("Namespace", "", "dev-team")]
    allowed = ns["metadata"]["annotations"]["flux-fleet.io/allowed-source-prefixes"]
    assert allowed.split(",") == ["https://github.com/example-org/",
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
    assert hooks["hooks"] == [{"id": "flux-fleet-validate", "always_run": True}] and hooks["rev"]
    workflow = yaml.safe_load((root / ".github" / "workflows" / "validate.yaml").read_text())
    steps = workflow["jobs"]["validate"]["steps"]
    assert any("flux-fleet validate" in s.get("run", "") for s in steps)
    assert any(hooks["rev"] in s.get("run", "") for s in steps)


def test_one_cluster_without_tenants(fleets: dict[str, Path]) -> None:
    root = fleets["small"]
    assert sorted(p.name for p in (root / "clusters").iterdir()) == ["only"]
    tenants = root / "clusters" / "only" / "tenants.yaml"
    assert docs(tenants) == [] and "No tenant runs on this cluster" in tenants.read_text()
    assert not [p for p in (root / "tenants").rglob("*") if p.is_file()]
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
    assert len(files) <= 50 * 3 + 5 * 8 + 23, len(files)  # + fixed files (11 policies)
    assert elapsed < 60, f"render took {elapsed:.1f}s"
    objs = tenant_objects(root, "c3")
    assert objs[("Kustomization", "team-49", "team-49")]["spec"]["path"] == "./prod"
    assert sum(1 for k in objs if k[0] == "Kustomization") == 50
    print(f"5 clusters x 50 tenants: {len(files)} files in {elapsed:.1f}s")
