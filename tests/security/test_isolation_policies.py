# ruff: noqa: E501 - the catalogue reads best one object per entry
"""Tenant isolation in depth, layers 1 and 3 of docs/security.md.

Layer 1, the template prevents: every tenant Namespace carries Pod Security Admission labels,
a ResourceQuota (no node ports, no load balancers), a zero quota at the system priority classes
and a LimitRange; per-tenant answers size and relax them, bad answers are refused.

Layer 3, the policies deny at admission: each object a tenant (or a Helm chart it installs)
could use to leave its namespaces is denied by the ValidatingAdmissionPolicies the fleet renders,
evaluated offline (policy_cel.py), and the fix of each is admitted by a binding that applies to
it (so "admitted" is never vacuous). The default fleet's own objects are admitted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import kustomize_available

from flux_fleet.cli import main
from flux_fleet.scaffold import answers
from flux_fleet.validate.checks.traffic import cluster_target
from flux_fleet.validate.kustomize import build as kustomize_build

from .conftest import TENANT, documents, validate
from .policy_cel import PolicySet

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="kustomize/kubectl not on PATH")

# A second fleet with per-tenant answers: tenant `web` (two namespaces, baseline, its own quota
# and source prefixes) next to `ops` (every default but no NetworkPolicy).
WEB_PREFIXES = ["https://github.com/example-org/", "oci://ghcr.io/example-org/",
                "https://charts.example.com/", "https://minio.example.com/web-assets/"]
CUSTOM_TENANTS = [
    {"name": "web", "namespaces": ["web", "web-jobs"], "repo_url": "https://github.com/example-org/web",
     "pod_security": "baseline", "quota": {"cpu": "2", "memory": "4Gi", "pods": 20},
     "allowed_source_prefixes": WEB_PREFIXES},
    {"name": "ops", "repo_url": "https://github.com/example-org/ops", "network_policy": False},
]


@pytest.fixture(scope="module")
def custom_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("custom") / "fleet"
    assert main(["new", str(dest), "--defaults", "--data",
                 f"tenants={json.dumps(CUSTOM_TENANTS)}"]) == 0
    return dest


def _namespaces(fleet: Path, tenant: str) -> dict[str, dict[str, Any]]:
    docs = documents(fleet / "tenants" / "base" / tenant / "rbac.yaml")
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "Namespace"}


@pytest.fixture(scope="module")
def all_namespaces(default_fleet: Path, custom_fleet: Path) -> dict[str, dict[str, Any]]:
    """dev-team (defaults), web + web-jobs (own prefixes), ops (fleet-wide prefixes)."""
    return {**_namespaces(default_fleet, TENANT), **_namespaces(custom_fleet, "web"),
            **_namespaces(custom_fleet, "ops")}


# --- layer 3: the catalogue ------------------------------------------------------------------

@dataclass(frozen=True)
class Admission:
    """One object a tenant must not get past admission, and its fix."""

    id: str
    policy: str
    bad: str  # the object (YAML), namespace dev-team unless it says otherwise
    good: str
    good_user: str = ""  # who writes the fix (default: Flux's kustomize-controller)


def _meta(kind: str, api: str, name: str = "x", ns: str = TENANT) -> str:
    return f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {ns}\n"


def service(extra: str = "") -> str:
    return _meta("Service", "v1") + "spec:\n  selector: {app: x}\n  ports: [{port: 80}]\n" + extra


def pod_spec(extra: str = "", indent: int = 2) -> str:
    pad = " " * indent
    body = "containers:\n  - name: app\n    image: ghcr.io/example-org/app:1\n" + extra
    return "".join(pad + line + "\n" for line in body.splitlines())


def workload(kind: str, extra: str = "") -> str:
    """A workload of ``kind`` whose (single) pod template carries ``extra``."""
    if kind == "Pod":
        return _meta("Pod", "v1") + "spec:\n" + pod_spec(extra)
    api = {"CronJob": "batch/v1", "Job": "batch/v1", "ReplicationController": "v1"}.get(kind, "apps/v1")
    if kind == "CronJob":
        return (_meta(kind, api) + "spec:\n  schedule: '@hourly'\n  jobTemplate:\n    spec:\n"
                "      template:\n        spec:\n" + pod_spec(extra, 10))
    return (_meta(kind, api) + "spec:\n  selector: {matchLabels: {app: x}}\n  template:\n"
            "    metadata: {labels: {app: x}}\n    spec:\n" + pod_spec(extra, 6))


def ingress(annotation: str) -> str:
    meta = _meta("Ingress", "networking.k8s.io/v1", "web")
    return (meta + f"  annotations:\n    {annotation}\n" +
            "spec:\n  rules: [{host: web.example.com}]\n")


def role_binding(subject: str) -> str:
    return (_meta("RoleBinding", "rbac.authorization.k8s.io/v1", "share") +
            "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}\n"
            f"subjects:\n  - {subject}\n")


def user(name: str) -> str:
    return f"{{apiGroup: rbac.authorization.k8s.io, kind: User, name: '{name}'}}"


def group(name: str) -> str:
    return f"{{apiGroup: rbac.authorization.k8s.io, kind: Group, name: '{name}'}}"


def source(kind: str, url: str, ns: str = TENANT) -> str:
    return _meta(kind, "source.toolkit.fluxcd.io/v1", "src", ns) + f"spec:\n  interval: 5m\n  url: '{url}'\n"


def bucket(endpoint: str, name: str, ns: str = "web", extra: str = "") -> str:
    return (_meta("Bucket", "source.toolkit.fluxcd.io/v1", "assets", ns) +
            f"spec:\n  interval: 5m\n  endpoint: '{endpoint}'\n  bucketName: {name}\n{extra}")


GIT = "GitRepository"
OWN = "https://github.com/example-org/apps"
PLACEMENT = "flux-tenant-pod-placement"
SUBJECTS = "flux-tenant-binding-subjects"
SOURCES = "flux-tenant-allowed-sources"
ROUTING = "flux-tenant-service-routing"
ENDPOINTS = "flux-tenant-no-manual-endpoints"
VERBS = "flux-tenant-rbac-verbs"
# the same object is the fix when the control plane's endpoint controllers write it
ENDPOINTS_OBJ = (_meta("Endpoints", "v1", "web") +
                 "subsets: [{addresses: [{ip: 10.244.3.17}], ports: [{port: 80}]}]\n")
SLICE = (_meta("EndpointSlice", "discovery.k8s.io/v1", "web-1") +
         "addressType: IPv4\nendpoints: [{addresses: [10.244.3.17]}]\nports: [{port: 443}]\n")
CATALOGUE = [
    Admission("external-ips", "flux-tenant-no-external-ips",
              service("  externalIPs: [10.96.0.10]\n"), service()),
    Admission("ingress-snippet", "flux-tenant-no-ingress-snippets",
              ingress("nginx.ingress.kubernetes.io/server-snippet: 'location /x { return 200; }'"),
              ingress("nginx.ingress.kubernetes.io/rewrite-target: /")),
    Admission("pod-node-name", PLACEMENT, workload("Pod", "nodeName: control-plane-1\n"), workload("Pod")),
    Admission("daemonset-node-name", PLACEMENT, workload("DaemonSet", "nodeName: control-plane-1\n"),
              workload("DaemonSet")),
    Admission("cronjob-node-name", PLACEMENT, workload("CronJob", "nodeName: control-plane-1\n"),
              workload("CronJob")),
    Admission("system-node-critical", PLACEMENT,
              workload("Deployment", "priorityClassName: system-node-critical\n"),
              workload("Deployment", "priorityClassName: tenant-high\n")),
    Admission("system-cluster-critical", PLACEMENT,
              workload("StatefulSet", "priorityClassName: system-cluster-critical\n"),
              workload("StatefulSet")),
    Admission("control-plane-toleration", PLACEMENT,
              workload("Deployment", "tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]\n"),
              workload("Deployment", "tolerations: [{key: example.com/gpu, operator: Exists}]\n")),
    Admission("tolerate-every-taint", PLACEMENT,
              workload("Job", "tolerations: [{operator: Exists}]\n"),
              workload("Job", "tolerations: [{key: example.com/gpu, operator: Exists}]\n")),
    Admission("bind-all-service-accounts", SUBJECTS, role_binding(group("system:serviceaccounts")),
              role_binding(group(f"system:serviceaccounts:{TENANT}"))),
    Admission("bind-unauthenticated", SUBJECTS, role_binding(group("system:unauthenticated")),
              role_binding(group("dev-team-oncall"))),
    Admission("bind-authenticated", SUBJECTS, role_binding(group("system:authenticated")),
              role_binding(group("oidc:dev-team"))),
    Admission("bind-anonymous", SUBJECTS, role_binding(user("system:anonymous")),
              role_binding(user("jane@example.com"))),
    Admission("bind-masters", SUBJECTS, role_binding(group("system:masters")),
              role_binding(group("dev-team-admins"))),
    Admission("bind-nodes", SUBJECTS, role_binding(group("system:nodes")),
              role_binding(group("dev-team-admins"))),
    Admission("bind-other-namespace-sa", SUBJECTS,
              role_binding("{kind: ServiceAccount, name: flux, namespace: ops}"),
              role_binding(f"{{kind: ServiceAccount, name: app, namespace: {TENANT}}}")),
    Admission("bind-other-namespace-sa-user", SUBJECTS,
              role_binding(user("system:serviceaccount:ops:flux")),
              role_binding(user(f"system:serviceaccount:{TENANT}:app"))),
    Admission("bind-other-namespace-sa-group", SUBJECTS,
              role_binding(group("system:serviceaccounts:ops")),
              role_binding(group(f"system:serviceaccounts:{TENANT}"))),
    Admission("bind-other-reconciler", SUBJECTS, role_binding(user("gotk:ops:reconciler")),
              role_binding(user(f"gotk:{TENANT}:reconciler"))),
    Admission("bind-kube-system-controller", SUBJECTS,
              role_binding(user("system:kube-controller-manager")),
              role_binding(user("jane@example.com"))),
    Admission("source-dot-dot", SOURCES, source(GIT, "https://github.com/example-org/../evil/x"),
              source(GIT, OWN)),
    Admission("source-dot", SOURCES, source(GIT, "https://github.com/example-org/./x"), source(GIT, OWN)),
    Admission("source-percent-dot", SOURCES, source(GIT, "https://github.com/example-org/%2e%2e/evil/x"),
              source(GIT, OWN)),
    Admission("source-userinfo", SOURCES, source(GIT, "https://github.com@evil.example.com/example-org/x"),
              source(GIT, OWN)),
    Admission("source-at-in-path", SOURCES, source(GIT, "https://github.com/example-org/x@evil.example.com/y"),
              source(GIT, OWN)),
    Admission("source-other-port", SOURCES, source(GIT, "https://github.com:8443/example-org/x"),
              source(GIT, OWN)),
    Admission("source-other-scheme", SOURCES, source(GIT, "http://github.com/example-org/x"),
              source(GIT, OWN)),
    Admission("source-neighbour-org", SOURCES, source(GIT, "https://github.com/example-org-evil/x"),
              source(GIT, OWN)),
    Admission("source-query", SOURCES, source(GIT, "https://evil.example.com/x?https://github.com/example-org/"),
              source(GIT, OWN)),
    Admission("oci-outside", SOURCES, source("OCIRepository", "oci://ghcr.io/evil/app", "web"),
              source("OCIRepository", "oci://ghcr.io/example-org/app", "web")),
    Admission("helm-outside", SOURCES, source("HelmRepository", "https://stefanprodan.github.io/podinfo", "web"),
              source("HelmRepository", "https://charts.example.com/podinfo", "web")),
    Admission("bucket-outside", SOURCES, bucket("minio.example.com", "web-assets-evil"),
              bucket("minio.example.com", "web-assets")),
    Admission("bucket-insecure", SOURCES, bucket("minio.example.com", "web-assets", extra="  insecure: true\n"),
              bucket("minio.example.com", "web-assets")),
    Admission("bucket-endpoint-path", SOURCES, bucket("minio.example.com/web-assets", "evil"),
              bucket("minio.example.com", "web-assets")),
    Admission("other-tenants-prefix", SOURCES, source("OCIRepository", "oci://ghcr.io/example-org/app", "ops"),
              source(GIT, "https://github.com/example-org/ops-apps", "ops")),
    # --- issue 10, the next vectors: Service routing, hand-written endpoints, RBAC verbs --------
    Admission("external-name-other-namespace", ROUTING,
              service("  type: ExternalName\n  externalName: vault.ops.svc.cluster.local\n"),
              service("  type: ExternalName\n  externalName: db.example.com\n")),
    Admission("external-name-api-server", ROUTING,
              service("  type: ExternalName\n  externalName: kubernetes.default.svc\n"),
              service("  type: ExternalName\n  externalName: db.example.com.\n")),
    Admission("external-name-ip", ROUTING,
              service("  type: ExternalName\n  externalName: 10.96.0.1\n"),
              service("  type: ExternalName\n  externalName: db.example.com\n")),
    Admission("load-balancer-service", ROUTING, service("  type: LoadBalancer\n"), service("  type: ClusterIP\n")),
    Admission("node-port-service", ROUTING, service("  type: NodePort\n"), service()),
    Admission("load-balancer-ip", ROUTING, service("  loadBalancerIP: 203.0.113.10\n"), service()),
    Admission("manual-endpoints", ENDPOINTS, ENDPOINTS_OBJ, ENDPOINTS_OBJ, good_user="system:kube-controller-manager"),
    Admission("manual-endpointslice", ENDPOINTS, SLICE, SLICE,
              good_user="system:serviceaccount:kube-system:endpointslice-controller"),
    Admission("role-escalate-bind", VERBS,
              _meta("Role", "rbac.authorization.k8s.io/v1", "rbac-manager") +
              "rules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [get, escalate, bind]}]\n",
              _meta("Role", "rbac.authorization.k8s.io/v1", "rbac-manager") +
              "rules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [get, list]}]\n"),
    Admission("role-star-on-rbac", VERBS,
              _meta("Role", "rbac.authorization.k8s.io/v1", "rbac-manager") +
              "rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n",
              _meta("Role", "rbac.authorization.k8s.io/v1", "rbac-manager") +
              "rules: [{apiGroups: [apps], resources: ['*'], verbs: ['*']}]\n"),
    Admission("role-impersonate", VERBS,
              _meta("Role", "rbac.authorization.k8s.io/v1", "sudo") +
              "rules: [{apiGroups: [''], resources: [serviceaccounts], verbs: [impersonate]}]\n",
              _meta("Role", "rbac.authorization.k8s.io/v1", "sudo") +
              "rules: [{apiGroups: [''], resources: [serviceaccounts], verbs: [get]}]\n"),
]
BY_ID = {a.id: a for a in CATALOGUE}


def _obj(text: str) -> dict[str, Any]:
    return yaml.safe_load(text)


@pytest.mark.parametrize("case", CATALOGUE, ids=[a.id for a in CATALOGUE])
def test_policy_denies_the_object_and_admits_its_fix(
        case: Admission, policies: PolicySet, all_namespaces: dict[str, dict[str, Any]]) -> None:
    bad, good = _obj(case.bad), _obj(case.good)
    verdicts = [v for v in policies.denials(bad, all_namespaces) if v.policy == case.policy]
    assert verdicts, f"{case.id}: {case.policy} admitted {bad}"
    # denied by a validation that ran and said no, with its own message, not by an evaluation
    # error (failurePolicy Fail would deny those too, for the wrong reason)
    assert all(not v.message.startswith(("error:", "failed expression")) for v in verdicts), verdicts
    assert policies.denials(good, all_namespaces, case.good_user) == [], f"{case.id}: the fix is denied"
    assert case.policy in policies.bindings_for(good, all_namespaces, case.good_user)


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                                  "ReplicationController", "Job", "CronJob"])
def test_every_pod_template_is_guarded(kind: str, policies: PolicySet,
                                       all_namespaces: dict[str, dict[str, Any]]) -> None:
    for extra in ("nodeName: n1\n", "priorityClassName: system-node-critical\n"):
        denied = {v.policy for v in policies.denials(_obj(workload(kind, extra)), all_namespaces)}
        assert PLACEMENT in denied, f"{kind} with {extra!r} admitted"
    assert policies.denials(_obj(workload(kind)), all_namespaces) == []


EXTERNAL_NAMES = ["vault.ops.svc.cluster.local", "kubernetes.default.svc", "x.svc", "10.96.0.1",
                  "10.96.0.1.", "localhost", "api.localhost", "db", "db.", "printer.local",
                  "x.corp.internal", "db.example.com", "db.example.com.", "svcs.example.com",
                  "my-svc.example.com", "10.example.com", "kubernetes.default"]


@pytest.mark.parametrize("name", EXTERNAL_NAMES)
def test_validator_and_policy_agree_on_external_names(
        name: str, policies: PolicySet, all_namespaces: dict[str, dict[str, Any]]) -> None:
    """FF529 and flux-tenant-service-routing hold the same patterns: one says no iff the other
    does (checks/traffic.py CLUSTER_TARGETS against the policy's CEL)."""
    obj = _obj(service(f"  type: ExternalName\n  externalName: '{name}'\n"))
    denied = [v for v in policies.denials(obj, all_namespaces) if v.policy == ROUTING]
    assert bool(denied) == bool(cluster_target(name)), (name, cluster_target(name), denied)


def test_a_scheduled_pod_can_still_be_updated(policies: PolicySet,
                                              all_namespaces: dict[str, dict[str, Any]]) -> None:
    """The scheduler sets nodeName (pods/binding); later updates of the pod must pass."""
    scheduled = _obj(workload("Pod", "nodeName: worker-1\n"))
    assert policies.review(scheduled, all_namespaces, operation="UPDATE") == []
    assert policies.denials(scheduled, all_namespaces)  # while creating it with one is denied


def test_outside_tenant_namespaces_nothing_is_denied(policies: PolicySet) -> None:
    """The bindings select tenant namespaces only: the platform's own workloads are not theirs."""
    obj = _obj(workload("DaemonSet", "nodeName: n1\n").replace(f"namespace: {TENANT}", "namespace: kube-system"))
    assert policies.denials(obj, {"kube-system": {"metadata": {"name": "kube-system"}}}) == []


def test_a_namespace_without_prefixes_admits_no_source(policies: PolicySet) -> None:
    """Fail closed: a tenant Namespace that lost its annotation pulls from nowhere."""
    ns = {"metadata": {"name": TENANT, "labels": {"toolkit.fluxcd.io/tenant": TENANT}}}
    verdicts = policies.denials(_obj(source(GIT, OWN)), {TENANT: ns})
    assert [v.policy for v in verdicts] == [SOURCES]
    assert "no flux-fleet.io/allowed-source-prefixes annotation" in verdicts[0].message


def test_every_policy_fails_closed_and_every_binding_denies(default_fleet: Path) -> None:
    docs = [d for f in sorted((default_fleet / "policies" / "base").glob("*.yaml"))
            for d in documents(f)]
    policies = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"]
    bindings = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert {p["metadata"]["name"] for p in policies} >= {
        "flux-tenant-no-external-ips", "flux-tenant-no-ingress-snippets", PLACEMENT, SUBJECTS,
        SOURCES}
    assert all(p["spec"]["failurePolicy"] == "Fail" for p in policies)
    assert all(b["spec"]["validationActions"] == ["Deny"] for b in bindings)
    assert sorted(b["spec"]["policyName"] for b in bindings) == sorted(
        p["metadata"]["name"] for p in policies)


# --- the default fleet: clean for the validator and for its own policies ---------------------

def _applied(fleet: Path, tenant_repo: Path, tenant: str) -> list[dict[str, Any]]:
    """The tenant's part of the platform repo (tenant_path substituted) and its repo's overlays."""
    text = kustomize_build(fleet / "tenants" / "base" / tenant).replace("${tenant_path}", "./staging")
    objects = [o for o in yaml.safe_load_all(text) if o]
    for overlay in ("staging", "production"):
        objects += [o for o in yaml.safe_load_all(kustomize_build(tenant_repo / overlay)) if o]
    return objects


def test_default_fleet_validates_strict_and_passes_its_policies(
        default_fleet: Path, default_tenant: Path, policies: PolicySet,
        all_namespaces: dict[str, dict[str, Any]]) -> None:
    report = validate(default_fleet, "--strict")
    assert (report.code, report.findings) == (0, [])
    objects = _applied(default_fleet, default_tenant, TENANT)
    kinds = {o["kind"] for o in objects if policies.bindings_for(o, all_namespaces)}
    assert {"RoleBinding", "GitRepository", "Deployment"} <= kinds
    denied = [(o["kind"], o["metadata"]["name"], v.message)
              for o in objects for v in policies.denials(o, all_namespaces)]
    assert denied == []


# --- layer 1: what the template renders --------------------------------------------------------

def _by_kind(fleet: Path, tenant: str, ns: str) -> dict[tuple[str, str], dict[str, Any]]:
    docs = documents(fleet / "tenants" / "base" / tenant / "rbac.yaml")
    return {(d["kind"], d["metadata"]["name"]): d for d in docs
            if d["metadata"].get("namespace", d["metadata"]["name"]) == ns}


def test_default_tenant_namespace_is_restricted_and_bounded(default_fleet: Path) -> None:
    objs = _by_kind(default_fleet, TENANT, TENANT)
    labels = objs[("Namespace", TENANT)]["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"
    hard = objs[("ResourceQuota", "tenant-quota")]["spec"]["hard"]
    defaults = answers.QUOTA_DEFAULTS
    assert hard == {"requests.cpu": defaults["cpu"], "requests.memory": defaults["memory"],
                    "limits.cpu": defaults["limits_cpu"], "limits.memory": defaults["limits_memory"],
                    "pods": str(defaults["pods"]),
                    "persistentvolumeclaims": str(defaults["persistentvolumeclaims"]),
                    "services.loadbalancers": "0", "services.nodeports": "0"}
    system = objs[("ResourceQuota", "tenant-no-system-priority")]["spec"]
    assert system["hard"] == {"pods": "0"}
    assert system["scopeSelector"]["matchExpressions"] == [
        {"scopeName": "PriorityClass", "operator": "In",
         "values": ["system-node-critical", "system-cluster-critical"]}]
    limits = objs[("LimitRange", "tenant-limits")]["spec"]["limits"][0]
    assert limits["type"] == "Container" and limits["default"] and limits["defaultRequest"]


def test_per_tenant_answers_render_into_each_namespace(custom_fleet: Path) -> None:
    for ns in ("web", "web-jobs"):
        objs = _by_kind(custom_fleet, "web", ns)
        meta = objs[("Namespace", ns)]["metadata"]
        assert meta["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
        assert meta["annotations"]["flux-fleet.io/allowed-source-prefixes"].split(",") == WEB_PREFIXES
        assert meta["annotations"]["flux-fleet.io/tenant-namespaces"] == "web,web-jobs"
        hard = objs[("ResourceQuota", "tenant-quota")]["spec"]["hard"]
        assert (hard["requests.cpu"], hard["requests.memory"], hard["pods"]) == ("2", "4Gi", "20")
        assert hard["limits.cpu"] == answers.QUOTA_DEFAULTS["limits_cpu"]  # left out: the default
    ops = _by_kind(custom_fleet, "ops", "ops")[("Namespace", "ops")]["metadata"]
    assert ops["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ops["annotations"]["flux-fleet.io/allowed-source-prefixes"].split(",") == [
        "https://github.com/example-org/", "ssh://git@github.com/example-org/"]
    report = validate(custom_fleet, "--strict")
    assert (report.code, report.findings) == (0, [])


def _admits(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a NetworkPolicy's ingress admits pods of a namespace with ``labels`` (the
    namespaceSelector terms of Kubernetes' NetworkPolicyPeer: matchLabels, In, DoesNotExist)."""
    def selects(sel: dict[str, Any]) -> bool:
        if any(labels.get(k) != v for k, v in (sel.get("matchLabels") or {}).items()):
            return False
        for e in sel.get("matchExpressions") or []:
            has = e["key"] in labels
            if (e["operator"] == "DoesNotExist" and has) or (e["operator"] == "Exists" and not has):
                return False
            if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
                return False
        return True
    return any(selects(peer["namespaceSelector"]) for rule in policy["spec"]["ingress"]
               for peer in rule["from"])


def test_every_tenant_namespace_is_isolated_from_other_tenants(custom_fleet: Path) -> None:
    """web's namespaces admit web's own pods and the platform's, not ops'; ops said
    network_policy: false and gets none, with the FF532 acceptance on its Namespace."""
    for ns in ("web", "web-jobs"):
        policy = _by_kind(custom_fleet, "web", ns)[("NetworkPolicy", "tenant-isolation")]
        assert policy["spec"]["podSelector"] == {} and policy["spec"]["policyTypes"] == ["Ingress"]
        assert _admits(policy, {"toolkit.fluxcd.io/tenant": "web"})  # web-jobs -> web
        assert _admits(policy, {"kubernetes.io/metadata.name": "ingress-nginx"})  # the platform
        assert not _admits(policy, {"toolkit.fluxcd.io/tenant": "ops"})  # another tenant
    ops = _by_kind(custom_fleet, "ops", "ops")
    assert not [k for k in ops if k[0] == "NetworkPolicy"]
    text = (custom_fleet / "tenants" / "base" / "ops" / "rbac.yaml").read_text(encoding="utf-8")
    assert "metadata:  # flux-fleet: ignore FF532" in text


def test_per_tenant_fleet_passes_its_own_policies(
        custom_fleet: Path, all_namespaces: dict[str, dict[str, Any]]) -> None:
    """web's RoleBindings name its flux SA from both of its namespaces; ops keeps the defaults."""
    policies = PolicySet.from_dir(custom_fleet / "policies" / "base")
    objects = [o for tenant in ("web", "ops") for o in yaml.safe_load_all(
        kustomize_build(custom_fleet / "tenants" / "base" / tenant)) if o]
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert len(bindings) == 3 and all(policies.bindings_for(b, all_namespaces) for b in bindings)
    assert [v.message for o in objects for v in policies.denials(o, all_namespaces)] == []


def test_the_answers_model_gives_each_tenant_the_prefixes_its_namespace_carries(
        custom_fleet: Path) -> None:
    data = yaml.safe_load((custom_fleet / ".copier-answers.yml").read_text())
    fleet = answers.FleetAnswers.of(data)
    for tenant in fleet.tenants:
        ns = _namespaces(custom_fleet, tenant.name)[tenant.namespace]["metadata"]
        carried = ns["annotations"]["flux-fleet.io/allowed-source-prefixes"].split(",")
        assert list(fleet.prefixes_of(tenant)) == carried
    web = fleet.tenants[0]
    assert web.pod_security == "baseline" and web.quota["cpu"] == "2"
    assert web.quota["limits_memory"] == answers.QUOTA_DEFAULTS["limits_memory"]


def test_a_tenant_may_share_with_its_other_namespaces(
        policies: PolicySet, all_namespaces: dict[str, dict[str, Any]]) -> None:
    rb = _obj(role_binding("{kind: ServiceAccount, name: runner, namespace: web-jobs}")
              .replace(f"namespace: {TENANT}", "namespace: web"))
    assert policies.denials(rb, all_namespaces) == []
    rb["metadata"]["namespace"] = "ops"
    assert [v.policy for v in policies.denials(rb, all_namespaces)] == [SUBJECTS]


TENANT_OK = "name: web, repo_url: 'https://github.com/example-org/web'"
BAD_ANSWERS = [
    ({"tenants": f"[{{{TENANT_OK}, pod_security: privileged}}]"},
     "tenants[0].pod_security 'privileged': must be restricted (the default) or baseline"),
    ({"tenants": f"[{{{TENANT_OK}, quota: {{cpu: lots}}}}]"},
     "tenants[0].quota.cpu 'lots': not a Kubernetes quantity (like 500m, 4, 8Gi)"),
    ({"tenants": f"[{{{TENANT_OK}, quota: {{pods: -1}}}}]"},
     "tenants[0].quota.pods '-1': must be a whole number, 0 or more"),
    ({"tenants": f"[{{{TENANT_OK}, quota: {{gpus: 1}}}}]"}, "tenants[0].quota: unknown key 'gpus'"),
    ({"allowed_source_prefixes": "[https://github.com/example-org]"},
     "allowed_source_prefixes[0] 'https://github.com/example-org': a prefix must end with '/', or it "
     "also admits its neighbours ('https://github.com/example-org' admits "
     "'https://github.com/example-org-evil'); write 'https://github.com/example-org/'"),
    ({"tenants": f"[{{{TENANT_OK}, allowed_source_prefixes: [https://github.com/example-org]}}]"},
     "tenants[0].allowed_source_prefixes[0] 'https://github.com/example-org': a prefix must end with '/'"),
    ({"tenants": f"[{{{TENANT_OK}, allowed_source_prefixes: []}}]"},
     "tenants[0].allowed_source_prefixes: must list at least one prefix"),
    ({"tenants": f"[{{{TENANT_OK}, allowed_source_prefixes: [https://gitlab.com/web/]}}]"},
     "tenants[0].repo_url 'https://github.com/example-org/web': outside tenants[0].allowed_source_prefixes (https://gitlab.com/web/)"),
    ({"allowed_source_prefixes": "[]", "tenants": f"[{{{TENANT_OK}, allowed_source_prefixes: [https://github.com/example-org/]}}]"},
     "tenants[0].allowed_source_prefixes: the fleet-wide allowed_source_prefixes is empty"),
    ({"tenants": f"[{{{TENANT_OK}, network_policy: 'no'}}]"},
     "tenants[0].network_policy 'no': must be true (the default: other tenants' pods cannot reach this tenant's) or false"),
]


BAD_IDS = ["pod-security-privileged", "quota-not-a-quantity", "quota-negative", "quota-unknown-key",
           "prefix-without-slash", "tenant-prefix-without-slash", "tenant-prefixes-empty",
           "repo-outside-own-prefixes", "own-prefixes-without-fleet-wide", "network-policy-not-a-bool"]


@pytest.mark.parametrize(("data", "message"), BAD_ANSWERS, ids=BAD_IDS)
def test_bad_tenant_answers_are_refused_with_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, str],
        message: str) -> None:
    dest = tmp_path / "fleet"
    args = ["new", str(dest), "--defaults"]
    for key, value in data.items():
        args += ["--data", f"{key}={value}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not dest.exists()


@pytest.mark.parametrize("case", range(len(BAD_ANSWERS)), ids=BAD_IDS)
def test_copier_alone_refuses_them_in_the_same_words(tmp_path: Path, case: int) -> None:
    """Plain `copier copy` (no flux-fleet first): the template's validators say the same."""
    import shutil

    import copier

    from flux_fleet import resources

    data_text, message = BAD_ANSWERS[case]
    data = {k: yaml.safe_load(v) for k, v in data_text.items()}
    template = tmp_path / "template"
    template.mkdir()
    shutil.copy2(resources.template_dir() / "copier.yml", template / "copier.yml")
    shutil.copytree(resources.template_dir() / "template", template / "template")
    with pytest.raises(ValueError, match="Validation error") as info:
        copier.run_copy(str(template), tmp_path / "fleet", data=data, defaults=True, quiet=True,
                        unsafe=False)
    assert message in str(info.value)
