"""Flux Kustomizations are built as kustomize-controller builds them, with real kustomize."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from tree_files import write_tree

from flux_fleet.model import BuildKey, KObject, ObjectId
from flux_fleet.validate import kustomize
from flux_fleet.validate.checks.build import (
    BuildResult,
    Classification,
    build_all,
    classify,
    file_objects,
    substitute,
)
from flux_fleet.validate.kustomize import KustomizeError, build, first_error_line
from flux_fleet.validate.loader import load_tree

pytestmark = pytest.mark.skipif(
    not (shutil.which("kustomize") or shutil.which("kubectl")),
    reason="needs kustomize or kubectl on PATH",
)



def flux_ks(name: str, path: str, extra: str = "", source: str = "flux-system",
            namespace: str = "flux-system") -> str:
    return f"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: {namespace}
spec:
  interval: 10m
  prune: true
  sourceRef:
    kind: GitRepository
    name: {source}
  path: {path}
{extra}"""


SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  url: ssh://git@github.com/example/fleet
  ref: {branch: main}
"""


def deployment(name: str, image: str = "nginx:1.25") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: {name}
          image: {image}
"""


def configmap(name: str, data: str = "  a: b\n") -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{data}"


class Run:
    """A loaded and built repository, as validate would see it."""

    def __init__(self, root: Path, **kwargs) -> None:
        loaded = load_tree(root)
        assert loaded.findings == []
        self.documents = loaded.documents
        self.classification: Classification = classify(self.documents)
        self.objects: list[KObject] = file_objects(self.documents, self.classification)
        self.result: BuildResult = build_all(root, self.documents, self.objects, **kwargs)

    def built(self, name: str, namespace: str = "flux-system") -> list[KObject]:
        """Every object the Kustomizations of that name build, over all clusters."""
        want = ObjectId("kustomize.toolkit.fluxcd.io", "Kustomization", namespace, name)
        found = [objs for key, objs in sorted(self.result.built.items()) if key.id == want]
        assert found, f"{want} was not built"
        return [o for objs in found for o in objs]

    def names(self, name: str, namespace: str = "flux-system") -> list[str]:
        return sorted(str(o.id) for o in self.built(name, namespace))

    def rules(self) -> list[tuple[str, str, int]]:
        return sorted((f.rule, f.file, f.line) for f in self.result.findings)


def test_folder_without_kustomization_is_built_like_the_controller_generates_it(tmp_path):
    repo = write_tree(tmp_path, {
        "clusters/staging/flux-system/gotk-sync.yaml": SYNC,
        "clusters/staging/apps.yaml": flux_ks("apps", "./apps/staging"),
        "apps/staging/web.yaml": deployment("web"),
        "apps/staging/config/settings.yaml": configmap("settings"),
        "apps/staging/overlay/kustomization.yaml": "resources: [../../base]\n",
        "apps/staging/overlay/ignored-by-overlay.yaml": configmap("not-listed"),
        "apps/base/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/base/cm.yaml": configmap("from-base"),
    })
    run = Run(repo)
    assert run.rules() == []
    assert run.names("apps") == [
        "ConfigMap/from-base", "ConfigMap/settings", "Deployment/web"]
    web = next(o for o in run.built("apps") if o.id.name == "web")
    assert web.source_file == "apps/staging/web.yaml"
    assert "annotations" not in web.data["metadata"]  # the origin annotation is stripped
    assert web.built_by == ObjectId("kustomize.toolkit.fluxcd.io", "Kustomization",
                                    "flux-system", "apps")
    assert web.document.file == "clusters/staging/apps.yaml"


def test_target_namespace_prefix_images_patches_and_common_metadata(tmp_path):
    extra = """\
  targetNamespace: team-a
  namePrefix: a-
  images:
    - name: nginx
      newTag: "1.27"
  patches:
    - target: {kind: Deployment, name: web}
      patch: |
        - op: add
          path: /spec/replicas
          value: 3
  commonMetadata:
    labels: {team: a}
"""
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks("apps", "./apps", extra),
        "apps/kustomization.yaml": "resources: [web.yaml]\n",
        "apps/web.yaml": deployment("web"),
    })
    run = Run(repo)
    (web,) = run.built("apps")
    assert run.rules() == []
    assert (web.id.namespace, web.id.name) == ("team-a", "a-web")
    assert web.data["spec"]["replicas"] == 3
    assert web.data["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert web.data["metadata"]["labels"] == {"team": "a"}


def test_components_are_applied_relative_to_the_path(tmp_path):
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks(
            "apps", "./apps", "  components:\n    - ../components/monitoring\n"),
        "apps/kustomization.yaml": "resources: [web.yaml]\n",
        "apps/web.yaml": deployment("web"),
        "components/monitoring/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
            "resources: [monitor.yaml]\n"),
        "components/monitoring/monitor.yaml": configmap("monitoring"),
    })
    run = Run(repo)
    assert run.rules() == []
    assert run.names("apps") == ["ConfigMap/monitoring", "Deployment/web"]
    assert "components/monitoring" not in run.classification.root_dirs()


def test_postbuild_substitutes_known_values_and_skips_substitute_from(tmp_path):
    extra = """\
  postBuild:
    substitute:
      cluster: staging
      replicas: "2"
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars
"""
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks("apps", "./apps", extra),
        "apps/vars.yaml": configmap(
            "vars", '  cluster: ${cluster}\n  region: ${region}\n  zone: ${zone:=eu-1a}\n'
            '  literal: $${cluster}\n'),
        "apps/untouched.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: untouched\n  annotations:\n"
            "    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  x: ${cluster}\n"),
    })
    run = Run(repo)
    by_name = {o.id.name: o.data for o in run.built("apps")}
    assert by_name["vars"]["data"] == {
        "cluster": "staging", "region": "${region}", "zone": "eu-1a", "literal": "${cluster}"}
    assert by_name["untouched"]["data"] == {"x": "${cluster}"}
    (skip,) = [s for s in run.result.skips if s.what == "substitution"]
    assert "region" in skip.reason and skip.file == "clusters/c1/apps.yaml" and skip.line == 17
    assert run.rules() == []


def test_undefined_variable_without_substitute_from_is_a_warning(tmp_path):
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks(
            "apps", "./apps", "  postBuild:\n    substitute:\n      cluster: c1\n"),
        "apps/vars.yaml": configmap("vars", "  region: ${region}\n"),
    })
    run = Run(repo)
    assert run.rules() == [("FF303", "clusters/c1/apps.yaml", 13)]
    assert "region" in run.result.findings[0].message


def test_kustomize_error_is_reported_at_spec_path_of_the_kustomization(tmp_path):
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks("apps", "./apps"),
        "apps/kustomization.yaml": "resources: [web.yaml, missing.yaml]\n",
        "apps/web.yaml": deployment("web"),
    })
    run = Run(repo)
    assert run.rules() == [("FF301", "clusters/c1/apps.yaml", 12)]
    (finding,) = run.result.findings
    assert "missing.yaml" in finding.message and finding.path == "spec.path"
    assert "flux-fleet-build-" not in finding.message  # no temp paths leak to the user


def test_missing_path_is_reported(tmp_path):
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks("apps", "./apps/stagng"),
    })
    run = Run(repo)
    assert run.rules() == [("FF302", "clusters/c1/apps.yaml", 12)]
    assert run.result.count == 1  # the cluster's own folder; apps is never built


def test_remote_base_is_skipped_not_failed(tmp_path):
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks("apps", "./apps"),
        "apps/kustomization.yaml": "resources: [../shared]\n",
        "shared/kustomization.yaml": (
            "resources:\n  - https://github.com/stefanprodan/podinfo//kustomize?ref=6.5.0\n"),
    })
    run = Run(repo)
    assert run.rules() == []
    (skip,) = [s for s in run.result.skips if s.what == "remote-base"]
    assert "github.com/stefanprodan/podinfo" in skip.reason
    assert skip.object == "Kustomization/flux-system/apps"
    assert run.result.count == 1  # the cluster's own folder; apps is never built


def test_external_sources_are_skipped(tmp_path):
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/podinfo.yaml": flux_ks("podinfo", "./kustomize", source="podinfo"),
        "clusters/c1/podinfo-source.yaml": SYNC.replace("name: flux-system", "name: podinfo")
        .replace("example/fleet", "stefanprodan/podinfo"),
    })
    run = Run(repo)
    assert run.rules() == []
    assert [s.reason for s in run.result.skips] == [
        "external source: GitRepository/flux-system/podinfo"]


def test_sops_documents_and_patch_files_are_not_objects(tmp_path):
    sops_secret = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n"
        "  password: ENC[AES256_GCM,data:abc,type:str]\n"
        "sops:\n  age: []\n  version: 3.8.1\n")
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks("apps", "./apps"),
        "apps/kustomization.yaml": (
            "resources: [web.yaml, db-secret.yaml]\npatches:\n  - path: replicas-patch.yaml\n"
            "configMapGenerator:\n  - name: settings\n    files: [settings.yaml]\n"),
        "apps/web.yaml": deployment("web"),
        "apps/db-secret.yaml": sops_secret,
        "apps/replicas-patch.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
                                    "  name: web\nspec:\n  replicas: 2\n",
        "apps/settings.yaml": "log: debug\n",
    })
    run = Run(repo)
    assert run.classification.patch_files == {"apps/replicas-patch.yaml"}
    assert run.classification.config_files == {"apps/settings.yaml"}
    assert sorted(str(o.id) for o in run.objects) == [
        "Deployment/web", "GitRepository/flux-system/flux-system",
        "Kustomization/flux-system/apps"]
    assert [(s.what, s.file, s.object) for s in run.classification.skips] == [
        ("sops", "apps/db-secret.yaml", "Secret/db")]
    assert run.rules() == []
    names = run.names("apps")  # the generated ConfigMap's name carries a content hash
    assert len(names) == 2 and names[0].startswith("ConfigMap/settings-")
    assert names[1] == "Deployment/web"  # the SOPS Secret is skipped, not built as an object
    web = next(o for o in run.built("apps") if o.id.kind == "Deployment")
    assert web.data["spec"]["replicas"] == 2
    assert any(s.what == "sops" and s.object == "Secret/db" for s in run.result.skips)


def test_repo_without_flux_builds_its_root_kustomizations(tmp_path):
    repo = write_tree(tmp_path, {
        "base/kustomization.yaml": "resources: [web.yaml]\n",
        "base/web.yaml": deployment("web"),
        "staging/kustomization.yaml": "resources: [../base]\nnamespace: team-a-staging\n",
        "production/kustomization.yaml": "resources: [../base]\nnamespace: team-a-prod\n",
    })
    run = Run(repo)
    assert run.classification.root_dirs() == ["production", "staging"]
    staging = BuildKey(ObjectId("kustomize.config.k8s.io", "Kustomization", "", "staging"),
                       "staging/kustomization.yaml")
    assert [str(o.id) for o in run.result.built[staging]] == ["Deployment/team-a-staging/web"]
    assert run.result.built[staging][0].document.file == "staging/kustomization.yaml"
    assert run.result.count == 2


def test_same_path_and_options_is_built_once_for_two_clusters(tmp_path):
    sync2 = SYNC.replace("namespace: flux-system", "namespace: flux-system2")
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c2/flux-system/gotk-sync.yaml": sync2,
        "clusters/c1/infra.yaml": flux_ks("infra", "./infra"),
        "clusters/c2/infra.yaml": flux_ks("infra", "./infra", namespace="flux-system2"),
        "infra/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n",
    })
    run = Run(repo, jobs=2)
    assert run.result.count == 3  # each cluster's folder, and infra once for both
    assert run.names("infra") == run.names("infra", "flux-system2") == ["Namespace/monitoring"]


def test_each_cluster_keeps_its_own_build_of_a_shared_kustomization_name(tmp_path):
    repo = write_tree(tmp_path, {
        "clusters/staging/flux-system/gotk-sync.yaml":
            SYNC + "---\n" + flux_ks("flux-system", "./clusters/staging"),
        "clusters/production/flux-system/gotk-sync.yaml":
            SYNC + "---\n" + flux_ks("flux-system", "./clusters/production"),
        "clusters/staging/apps.yaml": flux_ks("apps", "./apps/staging"),
        "clusters/production/apps.yaml": flux_ks("apps", "./apps/production"),
        "apps/staging/web.yaml": deployment("web"),
        "apps/production/web.yaml": deployment("web"),
        "apps/production/api.yaml": deployment("api"),
    })
    run = Run(repo, jobs=2)
    apps = ObjectId("kustomize.toolkit.fluxcd.io", "Kustomization", "flux-system", "apps")
    staging = run.result.built[BuildKey(apps, "clusters/staging/apps.yaml", "clusters/staging")]
    production = run.result.built[BuildKey(apps, "clusters/production/apps.yaml",
                                           "clusters/production")]
    assert [o.id.name for o in staging] == ["web"]
    assert sorted(o.id.name for o in production) == ["api", "web"]
    assert {o.source_file for o in production} == {"apps/production/web.yaml",
                                                   "apps/production/api.yaml"}
    assert len(run.result.built) == 4  # flux-system and apps, once per cluster


def test_builds_run_in_parallel(tmp_path):
    files = {"clusters/c1/flux-system/gotk-sync.yaml": SYNC}
    for i in range(6):
        files[f"clusters/c1/app{i}.yaml"] = flux_ks(f"app{i}", f"./apps/app{i}")
        files[f"apps/app{i}/web.yaml"] = deployment(f"web{i}")
    repo = write_tree(tmp_path, files)
    start = time.perf_counter()
    run = Run(repo, jobs=4)
    assert run.result.count == 7 and run.rules() == []  # the cluster's folder and six apps
    assert time.perf_counter() - start < 10


def test_substitute_follows_flux_envsubst_forms():
    text, unknown = substitute(
        "a: ${x}\nb: ${y:=d}\nc: ${empty:-e}\nd: ${empty-f}\ne: $${x}\nf: ${z}\n",
        {"x": "1", "empty": ""})
    assert text == "a: 1\nb: d\nc: e\nd: \ne: ${x}\nf: ${z}\n"
    assert unknown == {"z"}


@pytest.mark.parametrize(("text", "values", "out", "unknown"), [
    # a default may hold another substitution (bjw-s home-ops components: CLAIM:-APP)
    ('name: "${CLAIM:-${APP}}"', {"APP": "web"}, 'name: "web"', set()),
    ('name: "${CLAIM:-${APP}}"', {"APP": "web", "CLAIM": "data"}, 'name: "data"', set()),
    ("n: ${A:-${B:-${C}}}", {"C": "deep"}, "n: deep", set()),
    ("n: ${A:-${B}}", {}, "n: ${B}", {"B"}),
    # not substitutions: left as written
    ("n: ${1} ${a b} $x ${OPEN:-x", {}, "n: ${1} ${a b} $x ${OPEN:-x", set()),
    ("cmd: echo $${HOME} and ${X}", {"X": "y"}, "cmd: echo ${HOME} and y", set()),
])
def test_substitute_nests_defaults_like_envsubst(text, values, out, unknown):
    assert substitute(text, values) == (out, unknown)


def test_kustomize_wrapper_raises_with_command_and_stderr(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [nope.yaml]\n")
    with pytest.raises(KustomizeError) as err:
        build(tmp_path)
    assert "nope.yaml" in err.value.first_error
    assert "LoadRestrictionsNone" in err.value.cmd
    assert err.value.returncode != 0


def test_first_error_line_reads_kubectl_and_kustomize_styles():
    assert first_error_line("Error: accumulating resources: boom\n") == (
        "accumulating resources: boom")
    assert first_error_line('E1126 run.go:72] "command failed" err="bad thing"\n') == "bad thing"
    assert first_error_line('E1 run.go:72] "command failed" err=<\n\tfirst line\n\tmore\n >') == (
        "first line")


def test_a_standalone_kustomize_binary_is_preferred(tmp_path, monkeypatch):
    if not shutil.which("kubectl"):
        pytest.skip("the shim forwards to kubectl")
    shim = tmp_path / "bin" / "kustomize"
    shim.parent.mkdir()
    shim.write_text('#!/bin/sh\n[ "$1" = build ] && shift\nexec kubectl kustomize "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{__import__('os').environ['PATH']}")
    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (tmp_path / "cm.yaml").write_text(configmap("via-shim"))
    assert "name: via-shim" in build(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: [gone.yaml]\n")
    with pytest.raises(KustomizeError) as err:
        build(tmp_path)
    skip = len(kustomize.isolation())  # the no-network prefix (unshare), where available
    assert err.value.cmd[skip:skip + 2] == ["kustomize", "build"]


INFRA = flux_ks("infra-controllers", "./infrastructure/controllers")
PUBLIC_LAYOUT = {
    # flux2-kustomize-helm-example style: clusters/<c>, infrastructure/{controllers,configs},
    # apps/{base,<c>} with plain folders, HelmReleases, a SOPS Secret and postBuild.
    "clusters/staging/flux-system/gotk-sync.yaml": SYNC + "---\n" + flux_ks(
        "flux-system", "./clusters/staging"),
    "clusters/staging/flux-system/kustomization.yaml": (
        "resources: [gotk-sync.yaml]\n"
        "patches:\n  - path: sa-patch.yaml\n    target: {kind: Kustomization}\n"),
    "clusters/staging/flux-system/sa-patch.yaml": (
        "- op: add\n  path: /spec/serviceAccountName\n  value: kustomize-controller\n"),
    "clusters/staging/infrastructure.yaml": INFRA,
    "clusters/staging/apps.yaml": flux_ks(
        "apps", "./apps/staging",
        "  postBuild:\n    substitute:\n      cluster_env: staging\n"),
    "clusters/production/flux-system/gotk-sync.yaml": SYNC,
    "clusters/production/infrastructure.yaml": INFRA,
    "clusters/production/apps.yaml": flux_ks(
        "apps", "./apps/production",
        "  postBuild:\n    substitute:\n      cluster_env: production\n"),
    "infrastructure/controllers/ingress-nginx.yaml": """\
apiVersion: v1
kind: Namespace
metadata:
  name: ingress-nginx
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: ingress-nginx
  namespace: ingress-nginx
spec:
  interval: 24h
  url: https://kubernetes.github.io/ingress-nginx
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: ingress-nginx
  namespace: ingress-nginx
spec:
  interval: 30m
  chart:
    spec:
      chart: ingress-nginx
      version: "*"
      sourceRef: {kind: HelmRepository, name: ingress-nginx}
""",
    "apps/base/podinfo/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "namespace: podinfo\nresources: [namespace.yaml, release.yaml]\n"),
    "apps/base/podinfo/namespace.yaml": (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n"),
    "apps/base/podinfo/release.yaml": """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  interval: 50m
  chart:
    spec:
      chart: podinfo
      sourceRef: {kind: HelmRepository, name: podinfo}
  values:
    env: ${cluster_env}
""",
    "apps/staging/kustomization.yaml": (
        "resources: [../base/podinfo, secret.enc.yaml]\npatches:\n  - path: podinfo-values.yaml\n"),
    "apps/staging/podinfo-values.yaml": (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n"
        "  namespace: podinfo\nspec:\n  values:\n    replicaCount: 1\n"),
    "apps/staging/secret.enc.yaml": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: podinfo-token\n  namespace: podinfo\n"
        "stringData:\n  token: ENC[AES256_GCM,data:Zm9v,type:str]\n"
        "sops:\n  age:\n    - recipient: age1xyz\n  version: 3.9.0\n"),
    "apps/production/podinfo/kustomization.yaml": "resources: [../../base/podinfo]\n",
}


def test_public_style_layout_builds_without_false_alarms(tmp_path):
    run = Run(write_tree(tmp_path, PUBLIC_LAYOUT), jobs=2)
    assert run.result.findings == []
    assert run.classification.patch_files == {
        "apps/staging/podinfo-values.yaml", "clusters/staging/flux-system/sa-patch.yaml"}
    assert not {o.document.file for o in run.objects} & run.classification.patch_files
    apps = {(o.document.file, str(o.id)): o for o in run.built("apps")}
    staging = apps[("clusters/staging/apps.yaml", "HelmRelease/podinfo/podinfo")]
    assert staging.data["spec"]["values"] == {"env": "staging", "replicaCount": 1}
    assert staging.source_file == "apps/base/podinfo/release.yaml"
    production = apps[("clusters/production/apps.yaml", "HelmRelease/podinfo/podinfo")]
    assert production.data["spec"]["values"] == {"env": "production"}
    assert ("clusters/production/apps.yaml", "Namespace/podinfo") in apps
    assert not any(o.id.kind == "Secret" for o in run.built("apps"))
    assert sorted((s.what, s.file) for s in run.result.skips) == [
        ("sops", "clusters/staging/apps.yaml")]
    flux_system = [o for key, objs in run.result.built.items() for o in objs
                   if key.id.name == "flux-system" and key.cluster == "clusters/staging"]
    assert sorted(o.id.name for o in flux_system if o.id.kind == "Kustomization") == [
        "apps", "flux-system", "infra-controllers"]
    service_accounts = {o.id.name: o.data["spec"].get("serviceAccountName")
                        for o in flux_system if o.id.kind == "Kustomization"}
    assert service_accounts == {  # the patch file applies inside flux-system/ only
        "flux-system": "kustomize-controller", "apps": None, "infra-controllers": None}
    infra = sorted(str(o.id) for o in run.built("infra-controllers"))
    assert infra == sorted(["HelmRelease/ingress-nginx/ingress-nginx",
                            "HelmRepository/ingress-nginx/ingress-nginx",
                            "Namespace/ingress-nginx"] * 2)  # once per cluster
    assert run.result.count == 5  # both clusters' folders, apps twice, infra once for both


# --- small builds share kustomize processes -----------------------------------------------


def tenant_base(name: str) -> dict[str, str]:
    """A tenant base as the fleet template renders it: a ServiceAccount named like every
    other tenant's, in the tenant's own namespace."""
    return {
        f"tenants/base/{name}/kustomization.yaml": "resources: [rbac.yaml]\n",
        f"tenants/base/{name}/rbac.yaml": f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: flux
  namespace: {name}
  annotations:
    team: {name}
---
apiVersion: v1
kind: Namespace
metadata:
  name: {name}
""",
    }


def batching_fleet(tmp_path: Path) -> Path:
    files = {"clusters/c1/flux-system/gotk-sync.yaml": SYNC}
    for i in range(12):
        files.update(tenant_base(f"t{i}"))
        files[f"clusters/c1/t{i}.yaml"] = flux_ks(f"t{i}", f"./tenants/base/t{i}")
    files.update({
        # renames: never shares a process (kustomize's name references run again in a batch)
        "clusters/c1/prefixed.yaml": flux_ks("prefixed", "./apps/gen",
                                             "  namePrefix: pre-\n"),
        "apps/gen/kustomization.yaml": "configMapGenerator:\n  - name: settings\n"
                                       "    literals: [a=b]\n",
        # moves namespaces: collides with t0's ServiceAccount by kind and name
        "clusters/c1/moved.yaml": flux_ks("moved", "./tenants/base/t0",
                                          "  targetNamespace: elsewhere\n"),
        # the same object as t1 defines: must land in another batch
        "clusters/c1/twin.yaml": flux_ks("twin", "./apps/twin"),
        "apps/twin/kustomization.yaml": "resources: [../../tenants/base/t1/rbac.yaml]\n",
        # fails: its error must stay its own
        "clusters/c1/broken.yaml": flux_ks("broken", "./apps/broken"),
        "apps/broken/kustomization.yaml": "resources: [missing.yaml]\n",
    })
    return write_tree(tmp_path, files)


def outcome(run: Run) -> tuple[dict, list]:
    built = {str(key): sorted(repr(o.data) for o in objs)
             for key, objs in run.result.built.items()}
    return built, run.rules()


def test_small_builds_share_processes_without_changing_what_is_built(tmp_path, monkeypatch):
    # every build through kustomize here (plain folders need none: test_scale_equivalence.py)
    monkeypatch.setattr("flux_fleet.validate.plain_build.split", lambda *a, **k: None)
    repo = batching_fleet(tmp_path)
    shared = Run(repo)
    monkeypatch.setattr("flux_fleet.validate.checks.build._BATCH_MEMBERS", 1)
    alone = Run(repo)
    assert alone.result.processes == alone.result.count == 17
    assert shared.result.processes < alone.result.processes
    assert outcome(shared) == outcome(alone)
    assert [r[:2] for r in shared.rules()] == [("FF301", "clusters/c1/broken.yaml")]
    assert shared.names("moved") == ["Namespace/elsewhere", "ServiceAccount/elsewhere/flux"]
    account = next(o for o in shared.built("t3") if o.id.kind == "ServiceAccount")
    namespace = next(o for o in shared.built("t3") if o.id.kind == "Namespace")
    assert account.data["metadata"]["annotations"] == {"team": "t3"}
    assert "annotations" not in namespace.data["metadata"]  # the batch's mark leaves no trace
    assert all("flux-fleet.dev/build" not in repr(o.data)
               for objs in shared.result.built.values() for o in objs)
    assert shared.names("prefixed")[0].startswith("ConfigMap/pre-settings-")


def test_clusters_sharing_a_base_share_nothing_they_change(tmp_path):
    # two clusters build the same base; one adds commonMetadata: the other must not see it
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks(
            "apps", "./apps/base", "  commonMetadata:\n    labels: {owner: c1}\n"),
        "clusters/c2/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c2/apps.yaml": flux_ks("apps", "./apps/base"),
        "clusters/c3/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c3/apps.yaml": flux_ks("apps", "./apps/base"),
        "apps/base/web.yaml": deployment("web"),
    })
    run = Run(repo)
    by_cluster = {key.file.split("/")[1]: objs for key, objs in run.result.built.items()
                  if key.id.name == "apps"}
    labels = {c: objs[0].data["metadata"].get("labels") for c, objs in by_cluster.items()}
    assert labels == {"c1": {"owner": "c1"}, "c2": None, "c3": None}
    assert by_cluster["c2"][0].data is by_cluster["c3"][0].data  # parsed once, shared


def test_clusters_substituting_one_base_share_nothing_commonmetadata_changes(tmp_path):
    # the same values substituted into one base on three clusters; c1 also adds labels
    post = "  postBuild:\n    substitute:\n      region: eu\n"
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks(
            "apps", "./apps/base", post + "  commonMetadata:\n    labels: {owner: c1}\n"),
        "clusters/c2/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c2/apps.yaml": flux_ks("apps", "./apps/base", post),
        "clusters/c3/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c3/apps.yaml": flux_ks("apps", "./apps/base", post),
        "apps/base/kustomization.yaml": "resources: [vars.yaml]\nnamePrefix: p-\n",
        "apps/base/vars.yaml": configmap("vars", "  region: ${region}\n"),
    })
    run = Run(repo)
    by_cluster = {key.file.split("/")[1]: objs for key, objs in run.result.built.items()
                  if key.id.name == "apps"}

    assert {c: objs[0].data["data"]["region"] for c, objs in by_cluster.items()} == {
        "c1": "eu", "c2": "eu", "c3": "eu"}
    labels = {c: objs[0].data["metadata"].get("labels") for c, objs in by_cluster.items()}
    assert labels == {"c1": {"owner": "c1"}, "c2": None, "c3": None}
    assert by_cluster["c2"][0].data is by_cluster["c3"][0].data  # substituted once, shared


def test_substitution_reads_the_object_not_the_files_comments(tmp_path):
    # kustomize-controller substitutes each object's own YAML (no comments); a label opts out
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks(
            "apps", "./apps", "  postBuild:\n    substitute:\n      region: eu\n"),
        "apps/vars.yaml": "# set ${undefined_in_a_comment} here\n" + configmap(
            "vars", "  region: ${region}  # and ${another_comment}\n"),
        "apps/opted-out.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: opted-out\n  labels:\n"
            "    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  x: ${region}\n"),
    })
    run = Run(repo)
    by_name = {o.id.name: o.data for o in run.built("apps")}

    assert by_name["vars"]["data"] == {"region": "eu"}
    assert by_name["opted-out"]["data"] == {"x": "${region}"}
    assert run.rules() == []  # no FF303 for names that only comments mention


def test_a_value_that_breaks_the_yaml_or_grows_without_bound_is_a_build_failure(tmp_path):
    big = "x" * 200_000
    repo = write_tree(tmp_path, {
        "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c1/apps.yaml": flux_ks(
            "apps", "./apps", f"  postBuild:\n    substitute:\n      colon: 'a: b: c'\n"
            f"      big: {big}\n"),
        "apps/broken.yaml": configmap("broken", "  v: ${colon}\n"),
        "apps/huge.yaml": configmap("huge", "".join(f"  k{i}: ${{big}}\n" for i in range(40))),
        "apps/fine.yaml": configmap("fine"),
    })
    run = Run(repo)
    messages = sorted(f.message for f in run.result.findings if f.rule == "FF301")

    assert len(messages) == 2
    assert "larger than" in messages[0] and "not valid YAML" in messages[1]
    assert [o.id.name for o in run.built("apps")] == ["fine"]
