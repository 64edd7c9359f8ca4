"""The isolation vectors of issue 10, layer 2: one small overlay per vector on the default
rendered fleet or tenant repo, the rule that must catch it (file and line), and its fix.

test_isolation_validate runs them; docs/security.md ("Layer 2: what validate catches") lists
them; test_escapes counts their rules as covered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .conftest import Overlay
from .vectors import RBAC, SYNC, tenant_file

TAIL = "    name: gotk:dev-team:reconciler\n"
LOCK = "clusters/production/flux-system/kustomization.yaml"


@dataclass(frozen=True)
class Case:
    id: str
    repo: str  # platform | tenant | operator
    bad: Overlay
    rule: str
    file: str
    at: str  # text whose (first) line is the finding's line
    good: Overlay = field(default_factory=dict)
    after: str = ""
    severity: str = ""  # expected severity when it matters
    args: tuple[str, ...] = ()


def platform_rbac(extra: str) -> Overlay:
    """The platform's tenant rbac.yaml with more documents after the tenant's RoleBinding."""
    return {RBAC: (TAIL, TAIL + extra)}


def binding(kind: str, ns: str, role: str, subject: str, name: str = "extra") -> str:
    meta = f"  namespace: {ns}\n" if ns else ""
    return (f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n"
            f"  name: {name}\n{meta}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n"
            f"  kind: ClusterRole\n  name: {role}\nsubjects:\n{subject}")


def group(name: str) -> str:
    return f"  - apiGroup: rbac.authorization.k8s.io\n    kind: Group\n    name: {name}\n"


def user(name: str) -> str:
    return f"  - apiGroup: rbac.authorization.k8s.io\n    kind: User\n    name: {name}\n"


SA_FLUX = "  - kind: ServiceAccount\n    name: flux\n    namespace: dev-team\n"
TENANT_ADMIN = binding("RoleBinding", "", "admin", "{subject}", name="share")


def tenant_binding(subject: str) -> dict[str, Any]:
    return tenant_file(TENANT_ADMIN.removeprefix("---\n").format(subject=subject))


AGGREGATED = """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widen-admin
  labels:
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
rules:
  - apiGroups: [{group}]
    resources: [{resources}]
    verbs: [get, list, {verb}]
"""


def aggregated(group: str = "example.com", resources: str = "widgets",
               verb: str = "create") -> Overlay:
    return platform_rbac(AGGREGATED.format(group=group, resources=resources, verb=verb))


ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: rbac-manager
rules:
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [roles, rolebindings]
    verbs: [{verbs}]
"""

ANSWERS = ".copier-answers.yml"
SOURCES = "policies/base/allowed-sources.yaml"
OWN_URL = "url: https://github.com/example-org/dev-team\n"


def url(new: str) -> Overlay:
    return {SYNC: (OWN_URL, f"url: {new}\n")}


EXTRA_SOURCE = """\
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: {kind}
metadata:
  name: extra
  namespace: dev-team
spec:
  interval: 1h
{spec}"""


def extra_source(kind: str, spec: str) -> Overlay:
    return {SYNC: ("  ref:\n    branch: main\n", "  ref:\n    branch: main\n"
                   + EXTRA_SOURCE.format(kind=kind, spec=spec))}


OWN_PREFIX = "  allowed_source_prefixes:\n  - https://github.com/example-org/dev-team/\n"

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
{pod}      containers:
        - name: agent
          image: ghcr.io/example-org/agent:1.0.0
          securityContext:
{container}"""
SAFE_CONTAINER = """\
            runAsNonRoot: true
            allowPrivilegeEscalation: false
            capabilities:
              drop: [ALL]
            seccompProfile:
              type: RuntimeDefault
"""


def daemonset(pod: str = "", container: str = SAFE_CONTAINER) -> dict[str, Any]:
    return tenant_file(DAEMONSET.format(pod=pod, container=container))


NODE_ROOT = """\
      hostPID: true
      volumes:
        - name: root
          hostPath:
            path: /
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
    - port: 80
{extra}"""
TENANT_ANSWERS = ".copier-answers.yml"
RESTRICTED = ("  role: admin\n", "  role: admin\n  pod_security: restricted\n")
DEPLOYMENT = "base/deployment.yaml"
CONTAINER_HARDENING = ("          securityContext:\n            allowPrivilegeEscalation: false\n"
                       '            capabilities:\n              drop: ["ALL"]\n')
NS_HEAD = "  name: dev-team\n  labels:\n"
NS_ENFORCE = ("    pod-security.kubernetes.io/enforce: restricted\n"
              "    pod-security.kubernetes.io/enforce-version: latest\n")
NS_PREFIXES = ('    flux-fleet.io/allowed-source-prefixes: "https://github.com/example-org/,'
               'ssh://git@github.com/example-org/"\n')
OWN_NS_PREFIX = '    flux-fleet.io/allowed-source-prefixes: "https://github.com/example-org/dev-team/"\n'

MOVED = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: dev-team-apps
  namespace: {ns}
spec:
  interval: 1m
  url: https://github.com/example-org/dev-team
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: dev-team-apps
  namespace: {ns}
spec:
  interval: 10m
  serviceAccountName: {sa}
  sourceRef:
    kind: GitRepository
    name: dev-team-apps
  path: ./staging
  prune: true
"""
TENANT_KS = "tenants/base/dev-team/kustomization.yaml"
MOVED_FILE = "tenants/base/dev-team/moved.yaml"


def moved(ns: str, sa: str) -> Overlay:
    return {MOVED_FILE: MOVED.format(ns=ns, sa=sa),
            TENANT_KS: ("  - sync.yaml\n", "  - sync.yaml\n  - moved.yaml\n")}


CROSS_NS_TARGET = ('  target:\n      kind: Deployment\n      name: "(kustomize-controller|helm-'
                   'controller|notification')
REPLACE_ARGS = """\
  - patch: |
      - op: replace
        path: /spec/template/spec/containers/0/args
        value: [--log-level=debug, --watch-all-namespaces=true]
    target:
      kind: Deployment
      name: helm-controller
"""
CLUSTER_KS = "clusters/production/kustomization.yaml"
PARENT = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - flux-system
  - infrastructure.yaml
  - policies.yaml
  - tenants.yaml
patches:
  - patch: |
      - op: remove
        path: /spec/template/spec/containers/0/args/{index}
    target:
      kind: Deployment
      name: kustomize-controller
"""
SHARD_FILE = "clusters/production/flux-system/shard1.yaml"
SHARD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kustomize-controller-shard1
  namespace: flux-system
spec:
  selector:
    matchLabels:
      app: kustomize-controller-shard1
  template:
    metadata:
      labels:
        app: kustomize-controller-shard1
    spec:
      serviceAccountName: kustomize-controller
      containers:
        - name: manager
          image: ghcr.io/fluxcd/kustomize-controller:v2.9.4
          args:
            - --watch-all-namespaces=true
            - --watch-label-selector=sharding.fluxcd.io/key in (shard1)
{extra}"""
LOCKED = ("            - --no-cross-namespace-refs=true\n            - --no-remote-bases=true\n"
          "            - --default-service-account=flux\n")
NO_REMOTE_INLINE = ("  - patch: |\n      - op: add\n        path: /spec/template/spec/containers/0/"
                    "args/-\n        value: --no-remote-bases=true\n")
NO_REMOTE_FILE = "clusters/production/flux-system/no-remote-bases.yaml"
NO_REMOTE_PATCH = ("- op: add\n  path: /spec/template/spec/containers/0/args/-\n"
                   "  value: --no-remote-bases=true\n")


def shard(extra: str) -> Overlay:
    return {SHARD_FILE: SHARD.format(extra=extra),
            LOCK: ("  - gotk-sync.yaml\n", "  - gotk-sync.yaml\n  - shard1.yaml\n")}


INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations:
    {annotation}
spec:
  rules:
    - host: web.example.com
"""
ENDPOINT_SLICE = """\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
  - addresses: [10.244.3.17]
ports:
  - port: 443
"""
ENDPOINTS = """\
apiVersion: v1
kind: Endpoints
metadata:
  name: web
subsets:
  - addresses:
      - ip: 10.96.0.1
    ports:
      - port: 443
"""
PLAIN_SERVICE = tenant_file(SERVICE.format(extra=""))


def external_name(target: str) -> Overlay:
    return tenant_file(SERVICE.format(extra=f"  type: ExternalName\n  externalName: {target}\n"))


INSTANCE = "clusters/production/flux-system/flux-instance.yaml"


def instance_patch(ops: str) -> Overlay:
    """The operator fleet's FluxInstance with one spec.kustomize.patches entry."""
    return {INSTANCE: ("  sync:\n", "  kustomize:\n    patches:\n      - target:\n"
                       "          kind: Deployment\n          name: kustomize-controller\n"
                       "        patch: |\n" + "".join("    " + line + "\n"
                                                       for line in ops.splitlines())
                       + "  sync:\n")}


CASES: tuple[Case, ...] = (
    # --- 1. RBAC by identity ------------------------------------------------------------------
    Case("tenant-binds-all-serviceaccounts", "tenant",
         tenant_binding(group("system:serviceaccounts")), "FF515", "base/extra.yaml",
         "name: system:serviceaccounts", good=tenant_binding(SA_FLUX)),
    Case("tenant-binds-unauthenticated", "tenant",
         tenant_binding(group("system:unauthenticated")), "FF515", "base/extra.yaml",
         "name: system:unauthenticated", good=tenant_binding(SA_FLUX)),
    Case("tenant-binds-other-namespace-sa-as-user", "tenant",
         tenant_binding(user("system:serviceaccount:ops-team:default")), "FF506",
         "base/extra.yaml", "name: system:serviceaccount:ops-team", good=tenant_binding(SA_FLUX)),
    Case("tenant-binds-system-masters", "tenant",
         tenant_binding(group("system:masters")), "FF515", "base/extra.yaml",
         "name: system:masters", good=tenant_binding(SA_FLUX)),
    Case("platform-crb-namespace-group", "platform",
         platform_rbac(binding("ClusterRoleBinding", "", "view",
                               group("system:serviceaccounts:dev-team"))),
         "FF506", RBAC, "name: system:serviceaccounts:dev-team"),
    Case("platform-crb-sa-user", "platform",
         platform_rbac(binding("ClusterRoleBinding", "", "view",
                               user("system:serviceaccount:dev-team:flux"))),
         "FF506", RBAC, "name: system:serviceaccount:dev-team:flux"),
    Case("platform-rb-in-flux-system-as-user", "platform",
         platform_rbac(binding("RoleBinding", "flux-system", "edit",
                               user("system:serviceaccount:dev-team:flux"))),
         "FF506", RBAC, "name: system:serviceaccount:dev-team:flux"),
    Case("platform-crb-authenticated", "platform",
         platform_rbac(binding("ClusterRoleBinding", "", "edit", group("system:authenticated"))),
         "FF515", RBAC, "name: system:authenticated", severity="warning"),
    Case("platform-crb-unauthenticated", "platform",
         platform_rbac(binding("ClusterRoleBinding", "", "view",
                               group("system:unauthenticated"))),
         "FF515", RBAC, "name: system:unauthenticated", severity="error"),
    Case("aggregate-to-admin-namespaced", "platform", aggregated(), "FF516", RBAC,
         "- apiGroups: [example.com]", severity="warning"),
    Case("aggregate-to-admin-nodes", "platform", aggregated('""', "nodes", "delete"), "FF516",
         RBAC, '- apiGroups: [""]', severity="error"),
    Case("aggregate-to-admin-escalate", "platform",
         aggregated("rbac.authorization.k8s.io", "roles", "escalate"), "FF516", RBAC,
         "- apiGroups: [rbac.authorization.k8s.io]", severity="error"),
    Case("tenant-role-escalate-bind", "tenant",
         tenant_file(ROLE.format(verbs="get, escalate, bind")), "FF517", "base/extra.yaml",
         "verbs: [get, escalate", good=tenant_file(ROLE.format(verbs="get, list"))),
    Case("tenant-role-star-on-rbac", "tenant", tenant_file(ROLE.format(verbs='"*"')), "FF517",
         "base/extra.yaml", 'verbs: ["*"]', good=tenant_file(ROLE.format(verbs="get, list"))),
    # --- 5. per-tenant source prefixes, normalised, every source kind --------------------------
    Case("git-url-dot-segments", "platform", url("https://github.com/example-org/../evil/x"),
         "FF510", SYNC, "url: https://github.com/example-org/../evil"),
    Case("git-url-sibling-org", "platform", url("https://github.com/example-org-evil/x"),
         "FF510", SYNC, "url: https://github.com/example-org-evil"),
    Case("git-url-encoded-dots", "platform", url("https://github.com/example-org/%2e%2e/evil/x"),
         "FF510", SYNC, "url: https://github.com/example-org/%2e%2e"),
    Case("bucket-anywhere", "platform",
         extra_source("Bucket", "  bucketName: loot\n  endpoint: minio.evil.example.com\n"),
         "FF510", SYNC, "endpoint: minio.evil", good=extra_source(
             "Bucket", "  bucketName: dev-team\n  endpoint: github.com/example-org\n")),
    Case("oci-anywhere", "platform",
         extra_source("OCIRepository", "  url: oci://ghcr.io/evil/manifests\n"),
         "FF510", SYNC, "url: oci://ghcr.io/evil"),
    Case("helm-anywhere", "platform",
         extra_source("HelmRepository", "  url: https://charts.evil.example.com\n"),
         "FF510", SYNC, "url: https://charts.evil"),
    Case("tenant-prefix-from-answers", "platform",
         {ANSWERS: ("  role: admin\n", "  role: admin\n" + OWN_PREFIX), RBAC: (NS_PREFIXES, ""),
          **url("https://github.com/example-org/ops-team")},
         "FF510", SYNC, "url: https://github.com/example-org/ops-team",
         good={ANSWERS: ("  role: admin\n", "  role: admin\n" + OWN_PREFIX),
               RBAC: (NS_PREFIXES, "")}),
    Case("tenant-prefix-from-namespace", "platform",
         {RBAC: (NS_PREFIXES, OWN_NS_PREFIX), **url("https://github.com/example-org/ops-team")},
         "FF510", SYNC, "url: https://github.com/example-org/ops-team",
         good={RBAC: (NS_PREFIXES, OWN_NS_PREFIX)}),
    Case("prefix-without-slash", "platform",
         {ANSWERS: ("- https://github.com/example-org/\n", "- https://github.com/example-org\n")},
         "FF518", ANSWERS, "- https://github.com/example-org\n"),
    Case("binding-audit-only", "platform",
         {SOURCES: ('validationActions: ["Deny"]', 'validationActions: ["Audit", "Warn"]')},
         "FF519", SOURCES, "validationActions:"),
    Case("policy-fails-open", "platform",
         {SOURCES: ("failurePolicy: Fail", "failurePolicy: Ignore")}, "FF519", SOURCES,
         "failurePolicy: Ignore"),
    Case("namespace-lost-tenant-label", "platform",
         {RBAC: ("  labels:\n    toolkit.fluxcd.io/tenant: dev-team\n    # Pod Security",
                 "  labels:\n    # Pod Security")}, "FF520", RBAC,
         "metadata:\n  name: dev-team"),
    # --- 4. pod security, statically ----------------------------------------------------------
    Case("privileged-container", "tenant", daemonset(container="            privileged: true\n"),
         "FF521", "base/extra.yaml", "privileged: true", good=daemonset()),
    Case("hostpid-hostpath-root", "tenant", daemonset(pod=NODE_ROOT), "FF521", "base/extra.yaml",
         "hostPath:", good=daemonset()),
    Case("host-network", "tenant", daemonset(pod="      hostNetwork: true\n"), "FF521",
         "base/extra.yaml", "hostNetwork: true", good=daemonset()),
    Case("added-capability", "tenant",
         daemonset(container=SAFE_CONTAINER.replace("drop: [ALL]", "add: [SYS_ADMIN]")),
         "FF521", "base/extra.yaml", "add: [SYS_ADMIN]", good=daemonset()),
    Case("node-name-control-plane", "tenant",
         daemonset(pod="      nodeName: control-plane-1\n"), "FF523", "base/extra.yaml",
         "nodeName: control-plane-1", good=daemonset()),
    Case("system-priority-class", "tenant",
         daemonset(pod="      priorityClassName: system-node-critical\n"), "FF523",
         "base/extra.yaml", "priorityClassName: system-node-critical", good=daemonset()),
    Case("service-external-ips", "tenant",
         tenant_file(SERVICE.format(extra="  externalIPs:\n    - 10.96.0.1\n")), "FF524",
         "base/extra.yaml", "externalIPs:", good=tenant_file(SERVICE.format(extra=""))),
    Case("restricted-namespace-root-pod", "tenant",
         {TENANT_ANSWERS: RESTRICTED, DEPLOYMENT: (CONTAINER_HARDENING, "")}, "FF522",
         DEPLOYMENT, "        - name: app", severity="error",
         good={TENANT_ANSWERS: RESTRICTED}),
    Case("namespace-without-enforce-label", "platform",
         {RBAC: (NS_ENFORCE, "")}, "FF525", RBAC, "metadata:\n  name: dev-team",
         good={RBAC: (NS_ENFORCE, NS_ENFORCE)}),
    # --- 7. layer 1/3 items, statically: ingress snippets, tolerations --------------------------
    Case("ingress-server-snippet", "tenant",
         tenant_file(INGRESS.format(annotation="nginx.ingress.kubernetes.io/server-snippet: "
                                               "'location /x { return 200; }'")),
         "FF527", "base/extra.yaml", "nginx.ingress.kubernetes.io/server-snippet",
         good=tenant_file(INGRESS.format(
             annotation="nginx.ingress.kubernetes.io/rewrite-target: /"))),
    Case("control-plane-toleration", "tenant",
         daemonset(pod="      tolerations:\n        - key: node-role.kubernetes.io/control-plane\n"
                       "          operator: Exists\n          effect: NoSchedule\n"),
         "FF528", "base/extra.yaml", "- key: node-role.kubernetes.io/control-plane",
         good=daemonset(pod="      tolerations:\n        - key: example.com/gpu\n"
                            "          operator: Exists\n")),
    Case("tolerate-every-taint", "tenant",
         daemonset(pod="      tolerations:\n        - operator: Exists\n"), "FF528",
         "base/extra.yaml", "- operator: Exists",
         good=daemonset(pod="      tolerations:\n        - key: example.com/gpu\n"
                            "          operator: Exists\n")),
    Case("tenant-binds-other-reconciler", "tenant",
         tenant_binding(user("gotk:ops-team:reconciler")), "FF506", "base/extra.yaml",
         "name: gotk:ops-team:reconciler", good=tenant_binding(user("gotk:dev-team:reconciler"))),
    Case("tenant-binds-authenticated", "tenant", tenant_binding(group("system:authenticated")),
         "FF515", "base/extra.yaml", "name: system:authenticated",
         good=tenant_binding(group("dev-team-oncall"))),
    Case("tenant-binds-anonymous", "tenant", tenant_binding(user("system:anonymous")),
         "FF515", "base/extra.yaml", "name: system:anonymous",
         good=tenant_binding(user("jane@example.com"))),
    Case("tenant-binds-control-plane-user", "tenant",
         tenant_binding(user("system:kube-controller-manager")), "FF515", "base/extra.yaml",
         "name: system:kube-controller-manager", good=tenant_binding(user("jane@example.com"))),
    Case("tenant-role-impersonate", "tenant",
         tenant_file(ROLE.format(verbs="get, impersonate")), "FF517", "base/extra.yaml",
         "verbs: [get, impersonate", good=tenant_file(ROLE.format(verbs="get, list"))),
    Case("tenant-binds-nodes", "tenant", tenant_binding(group("system:nodes")), "FF515",
         "base/extra.yaml", "name: system:nodes", good=tenant_binding(group("dev-team-admins"))),
    Case("tenant-binds-other-namespace-sa-group", "tenant",
         tenant_binding(group("system:serviceaccounts:ops-team")), "FF506", "base/extra.yaml",
         "name: system:serviceaccounts:ops-team",
         good=tenant_binding(group("system:serviceaccounts:dev-team"))),
    # --- 8. the next vectors: Services, endpoints, NetworkPolicies -----------------------------
    Case("external-name-other-namespace", "tenant",
         external_name("vault.ops-team.svc.cluster.local"), "FF529", "base/extra.yaml",
         "externalName: vault", good=external_name("db.example.com")),
    Case("external-name-api-server", "tenant", external_name("kubernetes.default.svc"),
         "FF529", "base/extra.yaml", "externalName: kubernetes",
         good=external_name("db.example.com")),
    Case("external-name-ip", "tenant", external_name("10.96.0.1"), "FF529", "base/extra.yaml",
         "externalName: 10.96", good=external_name("db.example.com")),
    Case("manual-endpointslice", "tenant", tenant_file(ENDPOINT_SLICE), "FF530",
         "base/extra.yaml", "name: web-1", good=PLAIN_SERVICE),
    Case("manual-endpoints-api-server", "tenant", tenant_file(ENDPOINTS), "FF530",
         "base/extra.yaml", "name: web", good=PLAIN_SERVICE),
    Case("load-balancer-service", "tenant",
         tenant_file(SERVICE.format(extra="  type: LoadBalancer\n")),
         "FF531", "base/extra.yaml", "type: LoadBalancer", good=PLAIN_SERVICE),
    Case("node-port-service", "tenant", tenant_file(SERVICE.format(extra="  type: NodePort\n")),
         "FF531", "base/extra.yaml", "type: NodePort", good=PLAIN_SERVICE),
    Case("load-balancer-ip", "tenant",
         tenant_file(SERVICE.format(extra="  loadBalancerIP: 203.0.113.10\n")), "FF531",
         "base/extra.yaml", "loadBalancerIP:", good=PLAIN_SERVICE),
    Case("namespace-without-network-policy", "platform",
         {RBAC: ("  podSelector: {}\n", "  podSelector: {matchLabels: {app: web}}\n")},
         "FF532", RBAC, "metadata:\n  name: dev-team", severity="warning"),
    Case("network-policy-admits-every-namespace", "platform",
         {RBAC: ("        - namespaceSelector:\n            matchLabels:\n",
                 "        - namespaceSelector: {}\n        - namespaceSelector:\n"
                 "            matchLabels:\n")},
         "FF532", RBAC, "metadata:\n  name: dev-team", severity="warning"),
    # --- 3. tenant objects in flux-system -----------------------------------------------------
    Case("tenant-source-in-flux-system", "platform", moved("flux-system", "kustomize-controller"),
         "FF526", MOVED_FILE, "namespace: flux-system", good=moved("dev-team", "flux")),
    Case("tenant-kustomization-in-flux-system", "platform",
         moved("flux-system", "kustomize-controller"), "FF526", MOVED_FILE,
         "name: dev-team-apps", after="sourceRef:", good=moved("dev-team", "flux")),
    # --- 2. the lockdown as built --------------------------------------------------------------
    Case("patch-targets-nothing", "platform",
         {LOCK: (CROSS_NS_TARGET, CROSS_NS_TARGET.replace(
             "kind: Deployment\n", "kind: Deployment\n      namespace: kube-system\n"))},
         "FF501", LOCK, "patches:"),
    Case("later-patch-replaces-args", "platform",
         {LOCK: ("  # The platform's own sync", REPLACE_ARGS + "  # The platform's own sync")},
         "FF501", LOCK, "patches:"),
    Case("parent-kustomization-drops-flag", "platform",
         {CLUSTER_KS: PARENT.format(index=5)}, "FF501", LOCK, "patches:",
         good={CLUSTER_KS: PARENT.format(index=0)}),
    Case("renamed-patch-file", "platform",
         {LOCK: (NO_REMOTE_INLINE, "  - path: no-remote.yaml\n"), NO_REMOTE_FILE: NO_REMOTE_PATCH},
         "FF501", LOCK, "patches:",
         good={LOCK: (NO_REMOTE_INLINE, "  - path: no-remote-bases.yaml\n"),
               NO_REMOTE_FILE: NO_REMOTE_PATCH}),
    Case("unlocked-shard", "platform", shard(""), "FF501", LOCK, "patches:",
         good=shard(LOCKED)),
    # --- 6. validate --tenant: the platform's settings, not the tenant's -----------------------
    Case("tenant-config-excludes-the-file", "tenant",
         {**tenant_file(SERVICE.format(extra="  externalIPs:\n    - 10.96.0.1\n")),
          ".flux-fleet.yaml": "exclude: [base/extra.yaml]\n"}, "FF524", "base/extra.yaml",
         "externalIPs:", good={".flux-fleet.yaml": "exclude: [base/extra.yaml]\n"}),
    Case("tenant-comment-ignores-tenancy", "tenant",
         tenant_file(SERVICE.format(extra="  externalIPs:  # flux-fleet: ignore FF524\n"
                                          "    - 10.96.0.1\n")), "FF524", "base/extra.yaml",
         "externalIPs:"),
    Case("tenant-held-to-platform-prefixes", "tenant",
         tenant_file(EXTRA_SOURCE.removeprefix("---\n").format(
             kind="HelmRepository", spec="  url: https://charts.evil.example.com\n")),
         "FF510", "base/extra.yaml", "url: https://charts.evil",
         good=tenant_file(EXTRA_SOURCE.removeprefix("---\n").format(
             kind="HelmRepository", spec="  url: https://github.com/example-org/charts\n")),
         args=("--platform-answers", "{platform}/.copier-answers.yml")),
    Case("operator-patch-undoes-multitenant", "operator", instance_patch(
        "      - op: replace\n        path: /spec/template/spec/containers/0/args\n"
        "        value: [--watch-all-namespaces=true]\n"), "FF501", INSTANCE,
        "    patches:", good=instance_patch(
            "      - op: add\n        path: /spec/template/spec/containers/0/args/-\n"
            "        value: --concurrent=10\n")),
)
