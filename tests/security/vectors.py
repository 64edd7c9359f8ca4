"""The escape catalogue: one fixture repository per way a tenant escapes soft multi-tenancy.

Each vector is the default rendered platform fleet or tenant repo plus a small overlay (see
conftest.apply_overlay) that opens one hole, the overlay that closes it again, the rule that
must catch it at which file and line, and the admission policy (if any) that denies the object
on the cluster. docs/security.md is the same table in prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .conftest import Overlay

SYNC = "tenants/base/dev-team/sync.yaml"
RBAC = "tenants/base/dev-team/rbac.yaml"
BASE_KS = "base/kustomization.yaml"
LIST_EXTRA = ("  - deployment.yaml\n", "  - deployment.yaml\n  - extra.yaml\n")


@dataclass(frozen=True)
class Vector:
    id: str
    title: str
    repo: str  # "platform", "tenant" or "operator" (platform, bootstrap: flux-operator)
    bad: Overlay
    rule: str
    file: str
    at: str  # text in the bad file whose first line is the finding's line
    good: Overlay = field(default_factory=dict)  # the fix; {} = the default repo itself
    policy: str = ""  # the ValidatingAdmissionPolicy that denies the object, if any
    kind: str = ""  # kind of the object shown to the policy (from `file`)
    after: str = ""  # look for `at` only after this text (when `at` occurs earlier too)


def tenant_file(text: str) -> dict[str, str | tuple[str, str] | None]:
    """A tenant-repo overlay adding base/extra.yaml to the base kustomization."""
    return {"base/extra.yaml": text, BASE_KS: LIST_EXTRA}


HELM = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
spec:
  interval: 1h
  url: https://stefanprodan.github.io/podinfo
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  interval: 10m
{sa}  chart:
    spec:
      chart: podinfo
      sourceRef:
        kind: HelmRepository
        name: podinfo
{ns}"""


def helm(sa: bool = True, ns: str = "") -> str:
    return HELM.format(sa="  serviceAccountName: flux\n" if sa else "",
                       ns=f"        namespace: {ns}\n" if ns else "")


def tenant_ks(spec: str = "", namespace: str = "") -> str:
    """A Flux Kustomization a tenant keeps in its own repo (apps from its own source)."""
    meta = f"  namespace: {namespace}\n" if namespace else ""
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        f"  name: apps\n{meta}spec:\n  interval: 10m\n  serviceAccountName: flux\n"
        "  sourceRef:\n    kind: GitRepository\n    name: dev-team\n"
        f"  path: ./staging\n  prune: true\n{spec}"
    )


CLUSTER_ROLE_BINDING = """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: dev-team-everywhere
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: admin
subjects:
  - kind: ServiceAccount
    name: flux
    namespace: dev-team
"""
ROLE_BINDING_IN_FLUX_SYSTEM = """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: dev-team-in-flux-system
  namespace: flux-system
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: admin
subjects:
  - kind: ServiceAccount
    name: flux
    namespace: dev-team
"""
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: my-extra-namespace\n"
CLUSTER_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: read-secrets-everywhere
rules:
  - apiGroups: [""]
    resources: ["secrets"]
    verbs: ["get", "list"]
"""
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names:
    kind: Widget
    plural: widgets
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
"""
WEBHOOK = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: intercept-everything
webhooks:
  - name: intercept.example.com
    admissionReviewVersions: ["v1"]
    sideEffects: None
    clientConfig:
      url: https://hooks.example.com/validate
    rules:
      - apiGroups: ["*"]
        apiVersions: ["*"]
        operations: ["CREATE"]
        resources: ["*"]
"""
ROLE_BINDING_CLUSTER_ADMIN = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: app-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {role}
subjects:
  - kind: ServiceAccount
    name: app
    namespace: dev-team
"""
LOCKDOWN_FILE = "clusters/production/flux-system/kustomization.yaml"
INSTANCE_FILE = "clusters/production/flux-system/flux-instance.yaml"
NO_REMOTE = """\
  - patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --no-remote-bases=true
    target:
      kind: Deployment
      name: "kustomize-controller"
"""

VECTORS: tuple[Vector, ...] = (
    Vector(
        "kustomization-without-sa", "Kustomization without serviceAccountName", "platform",
        {SYNC: ("  serviceAccountName: flux\n", "")}, "FF502", SYNC,
        "spec:\n  interval: 10m", policy="flux-tenant-service-account", kind="Kustomization"),
    Vector(
        "helmrelease-without-sa", "HelmRelease without serviceAccountName", "tenant",
        tenant_file(helm(sa=False)), "FF502", "base/extra.yaml", "spec:\n  interval: 10m",
        good=tenant_file(helm()), policy="flux-tenant-service-account", kind="HelmRelease"),
    Vector(
        "impersonate-flux-controller", "Impersonating a flux-system controller ServiceAccount",
        "platform",
        {SYNC: ("serviceAccountName: flux", "serviceAccountName: kustomize-controller")},
        "FF504", SYNC, "serviceAccountName: kustomize-controller"),
    Vector(
        "unbound-service-account",
        "Impersonating a ServiceAccount the tenant was not given (e.g. the namespace default)",
        "platform", {SYNC: ("serviceAccountName: flux", "serviceAccountName: default")},
        "FF503", SYNC, "serviceAccountName: default"),
    Vector(
        "object-in-flux-system", "Tenant object placed in flux-system (runs as the platform)",
        "tenant", tenant_file(tenant_ks(namespace="flux-system")), "FF504", "base/extra.yaml",
        "namespace: flux-system", good=tenant_file(tenant_ks())),
    Vector(
        "object-in-other-tenant-namespace",
        "Tenant object placed in another tenant's namespace (runs as that tenant's SA)",
        "tenant", tenant_file(tenant_ks(namespace="ops-team")), "FF504", "base/extra.yaml",
        "namespace: ops-team", good=tenant_file(tenant_ks())),
    Vector(
        "cross-namespace-sourceref", "Kustomization sourceRef in another namespace", "platform",
        {SYNC: ("    name: dev-team\n    namespace: dev-team\n",
                "    name: flux-system\n    namespace: flux-system\n")},
        "FF505", SYNC, "namespace: flux-system\n  # The tenant repo folder",
        policy="flux-tenant-same-namespace-source", kind="Kustomization"),
    Vector(
        "helm-cross-namespace-sourceref", "HelmRelease chart sourceRef in another namespace",
        "tenant", tenant_file(helm(ns="flux-system")), "FF505", "base/extra.yaml",
        "        namespace: flux-system", good=tenant_file(helm()),
        policy="flux-tenant-same-namespace-source", kind="HelmRelease"),
    Vector(
        "cluster-role-binding", "ClusterRoleBinding to a tenant ServiceAccount", "platform",
        {RBAC: ("    name: gotk:dev-team:reconciler\n",
                "    name: gotk:dev-team:reconciler\n" + CLUSTER_ROLE_BINDING)},
        "FF506", RBAC, "name: flux", after="dev-team-everywhere"),
    Vector(
        "role-binding-other-namespace",
        "RoleBinding of a tenant ServiceAccount in another namespace", "platform",
        {RBAC: ("    name: gotk:dev-team:reconciler\n",
                "    name: gotk:dev-team:reconciler\n" + ROLE_BINDING_IN_FLUX_SYSTEM)},
        "FF506", RBAC, "namespace: dev-team", after="dev-team-in-flux-system"),
    Vector(
        "bind-cluster-admin", "Tenant bound to cluster-admin (platform opt-in: a warning)",
        "platform", {RBAC: ("  name: admin\n", "  name: cluster-admin\n")}, "FF507", RBAC,
        "name: cluster-admin"),
    Vector(
        "tenant-binds-cluster-admin", "Tenant repo binds cluster-admin in its namespace",
        "tenant", tenant_file(ROLE_BINDING_CLUSTER_ADMIN.format(role="cluster-admin")),
        "FF507", "base/extra.yaml", "name: cluster-admin",
        good=tenant_file(ROLE_BINDING_CLUSTER_ADMIN.format(role="view"))),
    Vector(
        "tenant-namespace", "Namespace created from a tenant repo", "tenant",
        tenant_file(NAMESPACE), "FF508", "base/extra.yaml", "kind: Namespace"),
    Vector(
        "tenant-cluster-role", "ClusterRole created from a tenant repo", "tenant",
        tenant_file(CLUSTER_ROLE), "FF508", "base/extra.yaml", "kind: ClusterRole"),
    Vector(
        "tenant-crd", "CustomResourceDefinition created from a tenant repo", "tenant",
        tenant_file(CRD), "FF508", "base/extra.yaml", "kind: CustomResourceDefinition"),
    Vector(
        "tenant-webhook", "ValidatingWebhookConfiguration created from a tenant repo", "tenant",
        tenant_file(WEBHOOK), "FF508", "base/extra.yaml", "kind: ValidatingWebhookConfiguration"),
    Vector(
        "kubeconfig", "spec.kubeConfig to reach another cluster", "platform",
        {SYNC: ("  prune: true\n", "  prune: true\n  kubeConfig:\n    secretRef:\n"
                "      name: prod-kubeconfig\n")},
        "FF509", SYNC, "kubeConfig:", policy="flux-tenant-no-kubeconfig", kind="Kustomization"),
    Vector(
        "source-url-not-allowed", "Source URL outside the allowed prefixes", "platform",
        {SYNC: ("url: https://github.com/example-org/dev-team",
                "url: https://evil.example.com/dev-team")},
        "FF510", SYNC, "url: https://evil", policy="flux-tenant-allowed-sources",
        kind="GitRepository"),
    Vector(
        "target-namespace-flux-system", "targetNamespace pointing at flux-system", "platform",
        {SYNC: ("  prune: true\n", "  prune: true\n  targetNamespace: flux-system\n")},
        "FF511", SYNC, "targetNamespace: flux-system"),
    Vector(
        "target-namespace-other-tenant", "targetNamespace pointing at another tenant", "tenant",
        tenant_file(tenant_ks("  targetNamespace: ops-team\n")), "FF511", "base/extra.yaml",
        "targetNamespace: ops-team", good=tenant_file(tenant_ks("  targetNamespace: dev-team\n"))),
    Vector(
        "remote-base", "Remote base in a tenant kustomization", "tenant",
        {BASE_KS: ("  - deployment.yaml\n",
                   "  - deployment.yaml\n  - https://github.com/evil-org/payload//deploy?ref=main\n")},
        "FF512", BASE_KS, "https://github.com/evil-org"),
    Vector(
        "path-escape", "Tenant Kustomization path outside its repo ('../')", "tenant",
        tenant_file(tenant_ks().replace("path: ./staging", "path: ../platform/clusters")),
        "FF513", "base/extra.yaml", "path: ../platform", good=tenant_file(tenant_ks())),
    Vector(
        "platform-sops-key", "Secrets decrypted with the platform's SOPS key", "platform",
        {SYNC: ("  prune: true\n", "  prune: true\n  decryption:\n    provider: sops\n"
                "    secretRef:\n      name: sops-age\n")},
        "FF514", SYNC, "name: sops-age"),
    Vector(
        "tenant-sops-key", "Tenant repo decrypts with the platform's SOPS key", "tenant",
        tenant_file(tenant_ks("  decryption:\n    provider: sops\n    secretRef:\n"
                              "      name: sops-age\n")),
        "FF514", "base/extra.yaml", "name: sops-age",
        good=tenant_file(tenant_ks("  decryption:\n    provider: sops\n    secretRef:\n"
                                   "      name: dev-team-age\n"))),
    Vector(
        "lockdown-removed", "Lockdown patch removed on one cluster", "platform",
        {LOCKDOWN_FILE: (NO_REMOTE, "")}, "FF501", LOCKDOWN_FILE, "patches:"),
    Vector(
        "lockdown-altered", "Lockdown patch altered on one cluster (controller SA as default)",
        "platform", {LOCKDOWN_FILE: ("--default-service-account=flux",
                                     "--default-service-account=kustomize-controller")},
        "FF501", LOCKDOWN_FILE, "patches:"),
    # the same two escapes in a fleet rendered with bootstrap: flux-operator (FluxInstance)
    Vector(
        "operator-lockdown-off", "FluxInstance without the multi-tenancy lockdown", "operator",
        {INSTANCE_FILE: ("    multitenant: true", "    multitenant: false")},
        "FF501", INSTANCE_FILE, "  cluster:"),
    Vector(
        "operator-lockdown-altered",
        "FluxInstance default service account altered (tenants default to `default`)",
        "operator", {INSTANCE_FILE: ("tenantDefaultServiceAccount: flux",
                                     "tenantDefaultServiceAccount: default")},
        "FF501", INSTANCE_FILE, "  cluster:"),
)
