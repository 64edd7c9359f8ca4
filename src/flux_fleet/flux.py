"""What the graph and tenancy checks need to know about Flux and Kubernetes kinds.

Pure data and pure functions: which kinds are sources, how a reference defaults its namespace,
which kinds are cluster-scoped, which controllers the lockdown patches must reach. Facts come
from the Flux v2.9 CRDs (../shared/crds/flux) and the Flux multi-tenancy lockdown docs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PLATFORM_NAMESPACE = "flux-system"
TENANT_LABEL = "toolkit.fluxcd.io/tenant"

SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"
IMAGE_GROUP = "image.toolkit.fluxcd.io"
SOURCE_EXT_GROUP = "source.extensions.fluxcd.io"
KUSTOMIZE_CONFIG_GROUP = "kustomize.config.k8s.io"

#: Flux kind -> API group, for references that name only a kind (sourceRef.kind,
#: eventSources[].kind).
FLUX_KIND_GROUPS: dict[str, str] = {
    "GitRepository": SOURCE_GROUP,
    "OCIRepository": SOURCE_GROUP,
    "HelmRepository": SOURCE_GROUP,
    "HelmChart": SOURCE_GROUP,
    "Bucket": SOURCE_GROUP,
    "ExternalArtifact": SOURCE_GROUP,
    "Kustomization": KUSTOMIZE_GROUP,
    "HelmRelease": HELM_GROUP,
    "Alert": NOTIFICATION_GROUP,
    "Provider": NOTIFICATION_GROUP,
    "Receiver": NOTIFICATION_GROUP,
    "ImageRepository": IMAGE_GROUP,
    "ImagePolicy": IMAGE_GROUP,
    "ImageUpdateAutomation": IMAGE_GROUP,
    "ArtifactGenerator": SOURCE_EXT_GROUP,
}

SOURCE_KINDS = frozenset(
    {"GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket", "ExternalArtifact"}
)
#: Sources whose spec.url is fetched from outside the cluster (checked against allowed prefixes).
URL_SOURCE_KINDS = frozenset({"GitRepository", "OCIRepository", "HelmRepository"})
#: Objects that apply manifests and therefore impersonate a ServiceAccount under lockdown.
RECONCILER_KINDS = frozenset({(KUSTOMIZE_GROUP, "Kustomization"), (HELM_GROUP, "HelmRelease")})

#: Controllers that --no-cross-namespace-refs must reach, and the flags each must carry.
CROSS_NS_CONTROLLERS = (
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
)
FLUX_CONTROLLERS = (*CROSS_NS_CONTROLLERS, "source-controller", "source-watcher")
#: ServiceAccounts that `flux install` creates in flux-system (one per controller).
FLUX_CONTROLLER_SAS = frozenset(FLUX_CONTROLLERS)

#: Objects flux bootstrap (or the Flux Operator) creates in flux-system without a file in Git
#: until gotk-sync.yaml is committed: (kind, name).
BOOTSTRAP_OBJECTS = frozenset(
    {
        ("GitRepository", "flux-system"),
        ("OCIRepository", "flux-system"),
        ("Kustomization", "flux-system"),
        ("Secret", "flux-system"),
    }
)

#: Cluster-scoped kinds fleets commonly carry, by (group, kind); used when the schema index does
#: not say. Anything not listed and not known to the schema store is treated as namespaced.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("apiregistration.k8s.io", "APIService"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("policy", "PodSecurityPolicy"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("resource.k8s.io", "DeviceClass"),
        ("cert-manager.io", "ClusterIssuer"),
        ("kyverno.io", "ClusterPolicy"),
        ("external-secrets.io", "ClusterSecretStore"),
        ("external-secrets.io", "ClusterExternalSecret"),
        ("gateway.networking.k8s.io", "GatewayClass"),
    }
)


def group_of(api_version: str) -> str:
    """API group of an apiVersion ('' for the core group)."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def is_cluster_scoped(group: str, kind: str) -> bool:
    """True for kinds that live outside namespaces (from the table above)."""
    return (group, kind) in CLUSTER_SCOPED


def is_substituted(value: Any) -> bool:
    """True when a value still holds a Flux postBuild `${VAR}` the repo does not resolve."""
    return isinstance(value, str) and "${" in value


def is_sops_encrypted(data: Any) -> bool:
    """A SOPS-encrypted document carries a top-level `sops` mapping."""
    return isinstance(data, dict) and isinstance(data.get("sops"), dict)


def spec_of(data: Mapping[str, Any]) -> dict[str, Any]:
    spec = data.get("spec")
    return spec if isinstance(spec, dict) else {}


def labels_of(data: Mapping[str, Any]) -> dict[str, Any]:
    meta = data.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return labels if isinstance(labels, dict) else {}


def get_path(data: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in nested dicts/lists, or None."""
    cur = data
    for part in path:
        if isinstance(part, int):
            if not isinstance(cur, list) or part >= len(cur):
                return None
        elif not isinstance(cur, dict):
            return None
        cur = cur[part] if isinstance(part, int) else cur.get(part)
    return cur


def is_remote_resource(entry: str) -> bool:
    """A kustomization `resources:` entry kustomize would fetch over the network."""
    e = entry.strip()
    if e.startswith(("./", "../", "/")):
        return False
    return bool(
        re.match(r"^([a-z+]+://|git@|git::|(github\.com|gitlab\.com|bitbucket\.org)/)", e)
    ) or ("?ref=" in e or "//" in e)


def path_escapes(path: str) -> bool:
    """True when a Flux spec.path climbs out of the source root ('../x', './a/../../b')."""
    depth = 0
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


@dataclass(frozen=True)
class Ref:
    """One reference from an object to another, with the key path it was read from."""

    path: tuple[str | int, ...]  # key path of the reference inside the referencing object
    group: str
    kind: str
    namespace: str  # resolved: explicit, else the referencing object's namespace
    name: str
    explicit_namespace: bool  # True when the reference itself set namespace
    optional: bool = False
    role: str = "source"  # source | dependsOn | values | provider | event | image


def _ref(
    path: tuple[str | int, ...],
    raw: Any,
    default_kind: str,
    own_ns: str,
    role: str,
    allowed: frozenset[str] | None = None,
    namespaced: bool = True,
) -> Ref | None:
    if not isinstance(raw, dict):
        return None
    kind = str(raw.get("kind") or default_kind)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        return None
    if allowed is not None and kind not in allowed:
        return None  # the schema check reports kinds outside the enum
    ns = raw.get("namespace") if namespaced else None
    explicit = isinstance(ns, str) and bool(ns)
    group = FLUX_KIND_GROUPS.get(kind, "")
    return Ref(
        path,
        group,
        kind,
        str(ns) if explicit else own_ns,
        name,
        explicit,
        bool(raw.get("optional")),
        role,
    )


def references(group: str, kind: str, data: Mapping[str, Any], own_ns: str) -> list[Ref]:
    """Every object reference a Flux object makes (sources, dependsOn, values, providers...)."""
    spec = spec_of(data)
    out: list[Ref | None] = []
    if (group, kind) == (KUSTOMIZE_GROUP, "Kustomization"):
        out.append(
            _ref(
                ("spec", "sourceRef"),
                spec.get("sourceRef"),
                "",
                own_ns,
                "source",
                frozenset({"GitRepository", "OCIRepository", "Bucket", "ExternalArtifact"}),
            )
        )
        post = spec.get("postBuild") if isinstance(spec.get("postBuild"), dict) else {}
        for i, item in enumerate(_list(post.get("substituteFrom"))):
            out.append(_values_ref(("spec", "postBuild", "substituteFrom", i), item, own_ns))
    elif (group, kind) == (HELM_GROUP, "HelmRelease"):
        chart = get_path(spec, ("chart", "spec", "sourceRef"))
        out.append(
            _ref(
                ("spec", "chart", "spec", "sourceRef"),
                chart,
                "",
                own_ns,
                "source",
                frozenset({"HelmRepository", "GitRepository", "Bucket"}),
            )
        )
        out.append(
            _ref(
                ("spec", "chartRef"),
                spec.get("chartRef"),
                "",
                own_ns,
                "source",
                frozenset({"OCIRepository", "HelmChart", "ExternalArtifact"}),
            )
        )
        for i, item in enumerate(_list(spec.get("valuesFrom"))):
            out.append(_values_ref(("spec", "valuesFrom", i), item, own_ns))
    elif (group, kind) == (SOURCE_GROUP, "HelmChart"):
        out.append(
            _ref(
                ("spec", "sourceRef"),
                spec.get("sourceRef"),
                "",
                own_ns,
                "source",
                frozenset({"HelmRepository", "GitRepository", "Bucket"}),
                namespaced=False,
            )
        )
    elif (group, kind) == (IMAGE_GROUP, "ImagePolicy"):
        out.append(
            _ref(
                ("spec", "imageRepositoryRef"),
                spec.get("imageRepositoryRef"),
                "ImageRepository",
                own_ns,
                "image",
            )
        )
    elif (group, kind) == (IMAGE_GROUP, "ImageUpdateAutomation"):
        out.append(
            _ref(
                ("spec", "sourceRef"),
                spec.get("sourceRef"),
                "GitRepository",
                own_ns,
                "source",
                frozenset({"GitRepository"}),
            )
        )
    elif (group, kind) == (NOTIFICATION_GROUP, "Alert"):
        out.append(
            _ref(
                ("spec", "providerRef"),
                spec.get("providerRef"),
                "Provider",
                own_ns,
                "provider",
                namespaced=False,
            )
        )
        for i, item in enumerate(_list(spec.get("eventSources"))):
            out.append(_event_ref(("spec", "eventSources", i), item, own_ns))
    elif (group, kind) == (NOTIFICATION_GROUP, "Receiver"):
        for i, item in enumerate(_list(spec.get("resources"))):
            out.append(_event_ref(("spec", "resources", i), item, own_ns))
    if (group, kind) in RECONCILER_KINDS:
        for i, item in enumerate(_list(spec.get("dependsOn"))):
            out.append(_ref(("spec", "dependsOn", i), item, kind, own_ns, "dependsOn"))
    return [r for r in out if r is not None]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _values_ref(path: tuple[str | int, ...], raw: Any, own_ns: str) -> Ref | None:
    if not isinstance(raw, dict) or raw.get("kind") not in ("ConfigMap", "Secret"):
        return None
    return _ref(path, raw, "", own_ns, "values", namespaced=False)


def _event_ref(path: tuple[str | int, ...], raw: Any, own_ns: str) -> Ref | None:
    """eventSources / Receiver resources: name '*' or a label selector match many objects."""
    if not isinstance(raw, dict) or raw.get("name") in (None, "", "*") or raw.get("matchLabels"):
        return None
    return _ref(path, raw, "", own_ns, "event")


# --- the lockdown -----------------------------------------------------------------------------

#: flag -> controllers that must carry it (value checked separately for the default SA).
LOCKDOWN_FLAGS: dict[str, tuple[str, ...]] = {
    "--no-cross-namespace-refs": CROSS_NS_CONTROLLERS,
    "--no-remote-bases": ("kustomize-controller",),
    "--default-service-account": ("kustomize-controller", "helm-controller"),
}


def parse_flag(arg: str) -> tuple[str, str] | None:
    """'--flag=value' -> ('--flag', 'value'); '--flag' -> ('--flag', 'true')."""
    if not arg.startswith("--"):
        return None
    flag, _, value = arg.partition("=")
    return flag, value if "=" in arg else "true"


def target_matches(target: Any, controller: str) -> bool:
    """Does a kustomize patch target select this controller's Deployment?

    kustomize treats target.name as an anchored regular expression; a target without name (or
    with a labelSelector that does not name a controller) selects every Flux Deployment.
    """
    if not isinstance(target, dict):
        return True  # a strategic-merge patch without target names its object itself
    kind = target.get("kind")
    if kind not in (None, "", "Deployment"):
        return False
    name = target.get("name")
    if isinstance(name, str) and name:
        try:
            return re.fullmatch(name, controller) is not None
        except re.error:
            return name == controller
    selector = target.get("labelSelector")
    if isinstance(selector, str) and selector:
        named = re.findall(r"=\s*([a-z0-9-]+-controller|source-watcher)\b", selector)
        if named:
            return controller in named
    return True


@dataclass(frozen=True)
class TenancySettings:
    """What the references and tenancy checks need from the CLI, the config file and the answers.

    ``tenant_mode``: "auto" applies the tenancy rules when the fleet looks multi-tenant (a
    tenant-labelled Namespace, lockdown flags, flux-fleet answers with tenants, or a tenant repo);
    "on" always; "off" never.
    """

    tenant_repo: bool = False
    tenant_mode: str = "auto"
    allowed_source_prefixes: tuple[str, ...] = ()
    platform_namespace: str = PLATFORM_NAMESPACE
    default_service_account: str = ""  # expected --default-service-account value ("" = any)
    decryption_secrets: tuple[str, ...] = ("sops-age", "sops-gpg")  # the platform's keys
    tenant_name: str = ""  # in a tenant repo: whose repo this is
    tenant_namespaces: Mapping[str, tuple[str, ...]] | None = None  # tenant -> namespaces (answers)
    #: tenant -> its own allowed_source_prefixes (its entry of the answers' tenants list)
    tenant_prefixes: Mapping[str, tuple[str, ...]] | None = None
    #: tenant -> Pod Security level its namespaces enforce (answers: tenants[].pod_security)
    tenant_pod_security: Mapping[str, str] | None = None
    #: tenant -> the URL of its repository (answers: tenants[].repo_url)
    tenant_repos: Mapping[str, str] | None = None

    @classmethod
    def from_answers(cls, answers: Mapping[str, Any] | None, **overrides: Any) -> TenancySettings:
        """Settings a flux-fleet rendered repo implies; CLI/config values win via ``overrides``."""
        a = answers or {}
        tenants: dict[str, tuple[str, ...]] = {}
        own_prefixes: dict[str, tuple[str, ...]] = {}
        levels: dict[str, str] = {}
        repos: dict[str, str] = {}
        for t in a.get("tenants") or []:
            if isinstance(t, dict) and isinstance(t.get("name"), str):
                nss = t.get("namespaces") or [t["name"]]
                tenants[t["name"]] = tuple(str(n) for n in nss if isinstance(n, str))
                mine = t.get("allowed_source_prefixes")
                if isinstance(mine, list) and mine:
                    own_prefixes[t["name"]] = tuple(str(p) for p in mine if isinstance(p, str))
                if isinstance(t.get("pod_security"), str):
                    levels[t["name"]] = t["pod_security"]
                if isinstance(t.get("repo_url"), str):
                    repos[t["name"]] = t["repo_url"]
        prefixes = a.get("allowed_source_prefixes") or ()
        values: dict[str, Any] = {
            "tenant_repo": a.get("repo_kind") == "tenant",
            "allowed_source_prefixes": tuple(str(p) for p in prefixes if isinstance(p, str)),
            "tenant_name": str(a.get("tenant_name") or ""),
            "tenant_namespaces": tenants or None,
            "tenant_prefixes": own_prefixes or None,
            "tenant_pod_security": levels or None,
            "tenant_repos": repos or None,
        }
        if tenants:
            values["default_service_account"] = "flux"
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def own_namespaces(self) -> tuple[str, ...]:
        """In a tenant repo: the namespaces the answers give this tenant (empty when unknown)."""
        if not self.tenant_namespaces or not self.tenant_name:
            return ()
        return self.tenant_namespaces.get(self.tenant_name, ())

    def prefixes_of(self, tenant: str) -> tuple[str, ...]:
        """The source prefixes a tenant is held to: its own answers entry, else fleet-wide."""
        return (self.tenant_prefixes or {}).get(tenant) or self.allowed_source_prefixes

    def namespace_owner(self, namespace: str) -> str:
        """Which tenant (by the answers) owns a namespace, or ''."""
        for tenant, nss in (self.tenant_namespaces or {}).items():
            if namespace in nss:
                return tenant
        return ""
