"""FF2xx: manifests are checked against the strict schema store and the CRDs' CEL rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux_fleet.model import Document, Finding, KObject, ObjectId, Skipped
from flux_fleet.validate.cel import nodes_at
from flux_fleet.validate.checks.schema import RULES, check_objects
from flux_fleet.validate.schema_store import SchemaStore

FLEET = """
apiVersion: v1
kind: Namespace
metadata:
  name: dev-team
  labels: {toolkit.fluxcd.io/tenant: dev-team}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: flux, namespace: dev-team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-team-reconciler, namespace: dev-team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects:
- {kind: ServiceAccount, name: flux, namespace: dev-team}
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "gotk:dev-team:reconciler"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: flux-view}
rules:
- {apiGroups: ["source.toolkit.fluxcd.io"], resources: ["*"], verbs: [get, list, watch]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: dev-team}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80, name: http}]
        resources: {limits: {cpu: 500m, memory: 128Mi}, requests: {cpu: 100m}}
        readinessProbe: {httpGet: {path: /, port: http}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: dev-team, namespace: dev-team}
spec:
  interval: 1m
  url: https://github.com/org/dev-team
  ref: {branch: main}
  secretRef: {name: dev-team-git}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: dev-team, namespace: dev-team}
spec:
  interval: 10m
  path: ./clusters/${CLUSTER_NAME}
  prune: true
  serviceAccountName: flux
  sourceRef: {kind: GitRepository, name: dev-team}
  kubeConfig:
    secretRef: {name: remote-kubeconfig}
  postBuild:
    substitute: {CLUSTER_NAME: staging}
    substituteFrom:
    - {kind: ConfigMap, name: cluster-vars}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata: {name: podinfo, namespace: dev-team}
spec: {interval: 1h, url: https://stefanprodan.github.io/podinfo}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: podinfo, namespace: dev-team}
spec:
  interval: 10m
  url: oci://ghcr.io/stefanprodan/charts/podinfo
  ref: {semver: ">=6.0.0"}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: dev-team}
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      version: "6.x"
      sourceRef: {kind: HelmRepository, name: podinfo}
  install:
    strategy: {name: RetryOnFailure, retryInterval: 2m}
  upgrade:
    strategy: {name: RetryOnFailure, retryInterval: 5m}
  kubeConfig:
    configMapRef: {name: remote}
  values:
    replicaCount: 2
    anything: {goes: [here]}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo-oci, namespace: dev-team}
spec:
  interval: 10m
  chartRef: {kind: OCIRepository, name: podinfo}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmChart
metadata: {name: podinfo, namespace: dev-team}
spec:
  interval: 10m
  chart: podinfo
  sourceRef: {kind: HelmRepository, name: podinfo}
  verify: {provider: cosign}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: Bucket
metadata: {name: artifacts, namespace: dev-team}
spec:
  interval: 5m
  provider: aws
  bucketName: artifacts
  endpoint: s3.amazonaws.com
  sts: {provider: aws, endpoint: "https://sts.amazonaws.com"}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: ExternalArtifact
metadata: {name: bundle, namespace: dev-team}
spec:
  sourceRef: {apiVersion: source.extensions.fluxcd.io/v1beta1, kind: ArtifactGenerator,
              name: bundle}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: github, namespace: dev-team}
spec:
  type: github
  address: https://github.com/org/dev-team
  secretRef: {name: github-token}
  commitStatusExpr: "event.involvedObject.name"
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: on-call, namespace: dev-team}
spec:
  providerRef: {name: github}
  eventSeverity: error
  eventSources: [{kind: Kustomization, name: "*"}]
---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: github, namespace: dev-team}
spec:
  type: github
  events: [ping, push]
  secretRef: {name: webhook-token}
  resources: [{kind: GitRepository, name: dev-team}]
---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: oidc, namespace: dev-team}
spec:
  type: generic-oidc
  resources: [{kind: GitRepository, name: dev-team}]
  oidcProviders:
  - issuerURL: https://token.actions.githubusercontent.com
    validations: [{expression: "claims.repository == 'org/dev-team'", message: wrong repo}]
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: web, namespace: dev-team}
spec: {image: ghcr.io/org/web, interval: 5m}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: web, namespace: dev-team}
spec:
  imageRepositoryRef: {name: web}
  policy: {semver: {range: ">=1.0.0"}}
  digestReflectionPolicy: Always
  interval: 10m
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: web, namespace: dev-team}
spec:
  interval: 30m
  sourceRef: {kind: GitRepository, name: dev-team}
  git:
    checkout: {ref: {branch: main}}
    commit: {author: {name: fluxbot, email: flux@example.com}}
  update: {path: ./apps, strategy: Setters}
---
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: bundle, namespace: dev-team}
spec:
  sources: [{alias: repo, kind: GitRepository, name: dev-team}]
  artifacts:
  - name: apps.bundle
    copy: [{from: "@repo/apps/**", to: "@artifact/"}]
"""


def kobjects(text: str, file: str = "fleet.yaml") -> list[KObject]:
    """KObjects straight from YAML text (positions empty: every finding is at line 1)."""
    out = []
    for index, data in enumerate(d for d in yaml.safe_load_all(text) if d is not None):
        doc = Document(file=file, index=index, line=1, column=1, data=data)
        out.append(KObject(id=ObjectId.of(data), api_version=str(data.get("apiVersion", "")),
                           data=data, document=doc))
    return out


def one(text: str) -> KObject:
    (obj,) = kobjects(text)
    return obj


@pytest.fixture(scope="module")
def store() -> SchemaStore:
    return SchemaStore()


def run(store: SchemaStore, objs: list[KObject], strict: bool = False
        ) -> tuple[list[Finding], list[Skipped]]:
    results = list(check_objects(objs, store, strict=strict))
    return ([r for r in results if isinstance(r, Finding)],
            [r for r in results if isinstance(r, Skipped)])


def by_name(kind: str, name: str) -> dict[str, Any]:
    for obj in kobjects(FLEET):
        if obj.data["kind"] == kind and obj.data["metadata"]["name"] == name:
            return copy.deepcopy(obj.data)
    raise KeyError((kind, name))


def as_obj(data: dict[str, Any]) -> KObject:
    doc = Document(file="fleet.yaml", index=0, line=1, column=1, data=data)
    return KObject(ObjectId.of(data), str(data.get("apiVersion", "")), data, doc)


def test_a_realistic_fleet_validates_clean(store: SchemaStore) -> None:
    findings, skipped = run(store, kobjects(FLEET), strict=True)
    assert findings == []
    # the Kustomization's path holds a ${VAR}: fine for the schema (a plain string), no skip
    assert skipped == []


def test_every_flux_kind_appears_in_the_fleet(store: SchemaStore) -> None:
    flux_kinds = {(k.api_version, k.kind) for k in store.kinds() if k.source == "crd" and k.served}
    fleet_kinds = {(o.api_version, o.data["kind"]) for o in kobjects(FLEET)}
    assert flux_kinds <= fleet_kinds


def test_all_crd_cel_rules_evaluate_and_hold_on_the_fleet(store: SchemaStore) -> None:
    evaluated: dict[tuple[str, str], int] = {}
    for obj in kobjects(FLEET):
        for rule in store.cel_rules(obj.api_version, obj.data["kind"]):
            for _path, node in nodes_at(obj.data, rule.where):
                assert store.cel.holds(rule.rule, node), (obj.id, rule.message)
                key = (obj.data["kind"], ".".join(str(p) for p in rule.where))
                evaluated[key] = evaluated.get(key, 0) + 1
    # 12 rule nodes across the 15 Flux CRDs, each reached by at least one object
    nodes = {(k.kind, ".".join(str(p) for p in r.where)) for k in store.kinds()
             if k.served and k.source == "crd" for r in store.cel_rules(k.api_version, k.kind)}
    assert len(nodes) == 12
    assert set(evaluated) == nodes


# --- one small object per rule, and its fixed variant --------------------------------------

def test_ff201_typo_in_a_flux_kind_is_a_finding_even_without_strict(store: SchemaStore) -> None:
    bad = one("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomisation\n"
              "metadata: {name: apps}\n")
    findings, _ = run(store, [bad])
    assert [f.rule for f in findings] == ["FF201"]
    assert "did you mean kustomize.toolkit.fluxcd.io/v1 Kustomization" in findings[0].hint
    good = by_name("Kustomization", "dev-team")
    assert run(store, [as_obj(good)]) == ([], [])


def test_ff201_third_party_kind_is_skipped_unless_strict(store: SchemaStore) -> None:
    cert = one("apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: web}\n"
               "spec: {secretName: web-tls}\n")
    findings, skipped = run(store, [cert])
    assert findings == []
    assert [(s.what, s.reason) for s in skipped] == [("schema", "no schema for cert-manager.io/v1 "
                                                                "Certificate")]
    findings, skipped = run(store, [cert], strict=True)
    assert [f.rule for f in findings] == ["FF201"] and skipped == []


def test_ff202_wrong_type_is_reported_at_the_key(store: SchemaStore) -> None:
    data = by_name("GitRepository", "dev-team")
    data["spec"]["interval"] = 5
    obj = as_obj(data)
    obj.document.positions[("spec", "interval")] = (9, 13)
    findings, _ = run(store, [obj])
    assert [(f.rule, f.line, f.column, f.path) for f in findings] == [
        ("FF202", 9, 13, "spec.interval")]
    assert findings[0].message == "spec.interval: 5 is not of type 'string'"
    assert findings[0].object == "GitRepository/dev-team/dev-team"
    data["spec"]["interval"] = "5m"
    assert run(store, [as_obj(data)]) == ([], [])


def test_ff202_unknown_field_suggests_the_right_one(store: SchemaStore) -> None:
    data = by_name("Kustomization", "dev-team")
    data["spec"]["prun"] = data["spec"].pop("prune")
    findings, _ = run(store, [as_obj(data)])
    messages = {(f.rule, f.path, f.message, f.hint) for f in findings}
    assert ("FF202", "spec.prun", "spec.prun: unknown field 'prun'", "did you mean 'prune'?"
            ) in messages
    assert ("FF202", "spec", "spec.prune is required", "add spec.prune") in messages


def test_ff202_enum_and_kubernetes_kinds_are_strict(store: SchemaStore) -> None:
    data = by_name("Kustomization", "dev-team")
    data["spec"]["sourceRef"]["kind"] = "GitRepo"
    findings, _ = run(store, [as_obj(data)])
    assert [(f.rule, f.path) for f in findings] == [("FF202", "spec.sourceRef.kind")]
    assert findings[0].hint.startswith("use one of: OCIRepository, GitRepository")
    deploy = by_name("Deployment", "web")
    deploy["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes"
    deploy["spec"]["template"]["spec"]["containers"][0]["portz"] = []
    findings, _ = run(store, [as_obj(deploy)])
    assert sorted(f.path for f in findings) == [
        "spec.template.spec.containers[0].portz"]  # imagePullPolicy has no enum in the API
    assert run(store, [as_obj(by_name("Deployment", "web"))]) == ([], [])


def test_int_or_string_accepts_both_and_nothing_else(store: SchemaStore) -> None:
    deploy = by_name("Deployment", "web")
    probe = deploy["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    for port in (8080, "http"):
        probe["port"] = port
        assert run(store, [as_obj(deploy)]) == ([], [])
    probe["port"] = [80]
    findings, _ = run(store, [as_obj(deploy)])
    assert [f.path for f in findings] == [
        "spec.template.spec.containers[0].readinessProbe.httpGet.port"]


CEL_CASES = {
    "helmrelease-chart-and-chartRef": (
        ("HelmRelease", "podinfo"), {"spec": {"chartRef": {"kind": "OCIRepository",
                                                           "name": "podinfo"}}},
        "spec", "either chart or chartRef must be set"),
    "helmrelease-neither-chart": (
        ("HelmRelease", "podinfo-oci"), {"spec": {"chartRef": None}},
        "spec", "either chart or chartRef must be set"),
    "helmrelease-kubeconfig-both": (
        ("HelmRelease", "podinfo"), {"spec": {"kubeConfig": {"secretRef": {"name": "k"}}}},
        "spec.kubeConfig", "exactly one of spec.kubeConfig.configMapRef or "
        "spec.kubeConfig.secretRef must be specified"),
    "kustomization-kubeconfig-neither": (
        ("Kustomization", "dev-team"), {"spec": {"kubeConfig": {"secretRef": None}}},
        "spec.kubeConfig", "exactly one of spec.kubeConfig.configMapRef or "
        "spec.kubeConfig.secretRef must be specified"),
    "helmrelease-install-remediate-with-retry": (
        ("HelmRelease", "podinfo"), {"spec": {"install": {"strategy": {
            "name": "RemediateOnFailure"}}}},
        "spec.install.strategy", ".retryInterval cannot be set when .name is "
        "'RemediateOnFailure'"),
    "helmrelease-upgrade-remediate-with-retry": (
        ("HelmRelease", "podinfo"), {"spec": {"upgrade": {"strategy": {
            "name": "RemediateOnFailure"}}}},
        "spec.upgrade.strategy", ".retryInterval can only be set when .name is 'RetryOnFailure'"),
    "imagepolicy-interval-without-always": (
        ("ImagePolicy", "web"), {"spec": {"digestReflectionPolicy": "IfNotPresent"}},
        "spec", "spec.interval is only accepted when spec.digestReflectionPolicy is set to "
        "'Always'"),
    "provider-commitstatusexpr-on-slack": (
        ("Provider", "github"), {"spec": {"type": "slack"}},
        "spec", "spec.commitStatusExpr is only supported for the 'github', 'gitlab', 'gitea', "
        "'bitbucketserver', 'bitbucket', 'azuredevops' provider types"),
    "receiver-oidc-without-providers": (
        ("Receiver", "oidc"), {"spec": {"oidcProviders": None}},
        "spec", "generic-oidc receivers must define at least one oidcProvider"),
    "bucket-sts-on-azure": (
        ("Bucket", "artifacts"), {"spec": {"provider": "azure"}},
        "spec", "STS configuration is only supported for the 'aws' and 'generic' Bucket "
        "providers"),
    "gitrepository-sa-without-provider": (
        ("GitRepository", "dev-team"), {"spec": {"serviceAccountName": "git"}},
        "spec", "serviceAccountName can only be set when provider is 'azure' or 'aws'"),
    "helmchart-verify-from-git": (
        ("HelmChart", "podinfo"), {"spec": {"sourceRef": {"kind": "GitRepository"}}},
        "spec", "spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'"),
    "artifactgenerator-bad-name": (
        ("ArtifactGenerator", "bundle"), {"spec": {"artifacts": [
            {"name": "Apps_Bundle", "copy": [{"from": "@repo/**", "to": "@artifact/"}]}]}},
        "spec", "artifact names must be valid Kubernetes object names when pathPattern is not "
        "set"),
}


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (None deletes), as `kubectl patch --type merge` does."""
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


@pytest.mark.parametrize("case", sorted(CEL_CASES))
def test_ff203_crd_cel_rule_violated(store: SchemaStore, case: str) -> None:
    (kind, name), patch, path, message = CEL_CASES[case]
    fixed = by_name(kind, name)
    assert run(store, [as_obj(fixed)]) == ([], [])
    broken = merge(by_name(kind, name), patch)
    findings, skipped = run(store, [as_obj(broken)])
    assert skipped == []
    assert [(f.rule, f.path, f.message) for f in findings] == [
        ("FF203", path, f"{path}: {message}")]


def test_ff203_rule_on_a_substituted_value_is_skipped(store: SchemaStore) -> None:
    data = merge(by_name("Provider", "github"), {"spec": {"type": "${PROVIDER_TYPE}"}})
    findings, skipped = run(store, [as_obj(data)])
    # the enum error and the CEL rule both depend on the placeholder: skipped, not failed
    assert findings == []
    assert {s.what for s in skipped} == {"substitution"}
    assert any("PROVIDER_TYPE" in s.reason for s in skipped)


def test_cel_error_while_evaluating_is_skipped_not_raised(store: SchemaStore) -> None:
    data = merge(by_name("HelmChart", "podinfo"), {"spec": {"sourceRef": None}})
    findings, skipped = run(store, [as_obj(data)])
    assert [(f.rule, f.message) for f in findings] == [("FF202", "spec.sourceRef is required")]
    assert [s.what for s in skipped] == ["cel"]
    assert "sourceRef" in skipped[0].reason


def test_ff204_unserved_flux_version_says_flux_migrate(store: SchemaStore) -> None:
    data = by_name("GitRepository", "dev-team")
    data["apiVersion"] = "source.toolkit.fluxcd.io/v1beta2"
    findings, _ = run(store, [as_obj(data)])
    assert [(f.rule, f.path) for f in findings] == [("FF204", "apiVersion")]
    assert "removed in source-controller v1.8.0 (Flux 2.8)" in findings[0].message
    assert "use source.toolkit.fluxcd.io/v1" in findings[0].message
    assert "flux migrate" in findings[0].hint
    alert = by_name("Alert", "on-call")
    alert["apiVersion"] = "notification.toolkit.fluxcd.io/v1beta2"
    findings, _ = run(store, [as_obj(alert)])
    assert "use notification.toolkit.fluxcd.io/v1beta3" in findings[0].message
    assert run(store, [as_obj(by_name("GitRepository", "dev-team"))]) == ([], [])


def test_ff205_missing_name(store: SchemaStore) -> None:
    nameless = one("apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {team: dev}\n")
    findings, _ = run(store, [nameless])
    assert [(f.rule, f.path) for f in findings] == [("FF205", "metadata")]
    no_metadata = one("apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n")
    assert [f.rule for f in run(store, [no_metadata])[0]] == ["FF205"]
    named = one("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n"
                "  labels: {team: dev}\n")
    assert run(store, [named]) == ([], [])


def test_substitution_placeholders_are_skipped_not_failed(store: SchemaStore) -> None:
    deploy = by_name("Deployment", "web")
    deploy["spec"]["replicas"] = "${REPLICAS}"
    ks = by_name("Kustomization", "dev-team")
    ks["spec"]["interval"] = "${SYNC_INTERVAL:=10m}"
    findings, skipped = run(store, [as_obj(deploy), as_obj(ks)])
    assert findings == []
    assert [(s.what, s.object) for s in skipped] == [
        ("substitution", "Deployment/dev-team/web"),
        ("substitution", "Kustomization/dev-team/dev-team")]
    assert "resolved at apply time" in skipped[0].reason


def test_built_objects_are_reported_at_the_kustomization(store: SchemaStore) -> None:
    ks_doc = Document(file="clusters/staging/apps.yaml", index=0, line=3, column=1, data={})
    data = by_name("Namespace", "dev-team")
    data["metadata"]["lables"] = {}
    built = KObject(ObjectId.of(data), "v1", data, ks_doc,
                    built_by=ObjectId("kustomize.toolkit.fluxcd.io", "Kustomization",
                                      "flux-system", "apps"), source_file="apps/ns.yaml")
    (finding,) = run(store, [built])[0]
    assert (finding.file, finding.line) == ("clusters/staging/apps.yaml", 3)
    assert "built by Kustomization/flux-system/apps from apps/ns.yaml" in finding.message


def test_every_rule_is_documented() -> None:
    assert [r.code for r in RULES] == ["FF201", "FF202", "FF203", "FF204", "FF205"]
    for rule in RULES:
        assert rule.why and rule.fix and rule.bad and rule.good


def test_rules_fire_on_their_bad_example_and_not_on_the_good_one(store: SchemaStore) -> None:
    for rule in RULES:
        bad, good = (yaml.safe_load(rule.bad), yaml.safe_load(rule.good))
        for data in (bad, good):
            data.setdefault("metadata", {"name": "x"})
            if data["kind"] == "GitRepository":
                data.setdefault("spec", {"interval": "1m", "url": "https://example.com/x"})
        assert rule.code in {f.rule for f in run(store, [as_obj(bad)])[0]}, rule.code
        assert rule.code not in {f.rule for f in run(store, [as_obj(good)])[0]}, rule.code


def test_repeated_content_is_checked_once_and_valid_objects_take_the_fast_path() -> None:
    store = SchemaStore()  # fresh counters
    objs = kobjects(FLEET, "clusters/a.yaml") + kobjects(FLEET, "clusters/b.yaml")
    assert run(store, objs) == ([], [])
    distinct = len(kobjects(FLEET))
    assert store.counts["checked"] == distinct  # the second cluster's copies are repeats
    assert store.counts["repeat"] == distinct
    assert store.counts["fast"] == distinct and store.counts["located"] == 0


def test_repeated_broken_content_is_reported_at_every_copy() -> None:
    store = SchemaStore()
    text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n  colour: red\n"
    findings, _ = run(store, kobjects(text, "clusters/a.yaml") + kobjects(text, "clusters/b.yaml"))
    assert sorted((f.file, f.rule) for f in findings) == [
        ("clusters/a.yaml", "FF202"), ("clusters/b.yaml", "FF202")]
    assert store.counts["located"] == 2  # invalid: jsonschema locates the error each time


def _leaf_paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _leaf_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _leaf_paths(v, (*path, i))
    return out


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70000) | st.floats(allow_nan=False)
    | st.sampled_from(["", "x", "5m", "5 minutes", "main", "Always", "Bad Name", "http", "${VAR}",
                      "1.0", "-1"]),
    lambda kids: st.lists(kids, max_size=3)
    | st.dictionaries(st.sampled_from(["name", "kind", "spec", "x", "interval"]), kids,
                      max_size=3),
    max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_agrees_with_jsonschema_on_mutated_objects(store: SchemaStore, data) -> None:
    """The compiled yes/no check must never call valid what jsonschema calls invalid."""
    obj = copy.deepcopy(data.draw(st.sampled_from(kobjects(FLEET))).data)
    path = data.draw(st.sampled_from(_leaf_paths(obj)[1:]))
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["extra", "Name", "spec", "type"]))] = data.draw(_json)
    else:
        parent[path[-1]] = data.draw(_json)
    api, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
    validator = store.validator(api, kind)
    fast = store.fast_check(api, kind)
    if validator is None or fast is None:
        return
    assert fast(obj) == validator.is_valid(obj)


def test_absurdly_deep_objects_are_skipped_not_crashed(store: SchemaStore) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):  # a CRD's JSONSchemaProps is recursive, so its schema goes this deep
        node["not"] = {}
        node = node["not"]
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"kind": "Widget", "plural": "widgets"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": deep}}]}}
    findings, skipped = run(store, [as_obj(crd)])
    # checked without a crash (jsonschema-rs recurses on its own stack; what reaches it from
    # a repository is at most the loader's 256 levels, FF106): valid, or skipped as too deep
    assert findings == []
    assert [(s.what, s.reason) for s in skipped] in (
        [], [("schema", "too deeply nested to validate")])
    invalid = {**crd, "spec": {**crd["spec"], "scope": 7}}  # the deep part shared
    findings, skipped = run(store, [as_obj(invalid)])
    assert findings or [(s.what, s.reason) for s in skipped] == [
        ("schema", "too deeply nested to validate")]


def test_kustomize_config_files_are_not_objects(store: SchemaStore) -> None:
    config = one("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                 "resources: [a.yaml]\n")
    assert run(store, [config], strict=True) == ([], [])
