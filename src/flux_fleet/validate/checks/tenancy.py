"""Tenancy (FF5xx): a tenant cannot reach beyond its namespaces (Flux soft multi-tenancy).

Tenant namespaces are Namespaces labelled toolkit.fluxcd.io/tenant, the namespaces the answers
give tenants, and the namespaces of Flux Kustomizations/HelmReleases outside flux-system; in a
tenant repository every object is a tenant object. The rules follow the Flux multi-tenancy
lockdown: controllers refuse cross-namespace refs and remote bases and impersonate a default
ServiceAccount, so every tenant reconciler must impersonate an SA bound only in its namespace.
With tenant_mode "auto", a fleet that shows no sign of multi-tenancy is skipped as a whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flux_fleet import flux
from flux_fleet.flux import TenancySettings
from flux_fleet.flux_operator import FluxInstance
from flux_fleet.model import Document, Finding, Inventory, KObject, Severity, Skipped
from flux_fleet.validate import kustomize
from flux_fleet.validate.checks.flux_system import RULES as FLUX_SYSTEM_RULES
from flux_fleet.validate.checks.flux_system import platform_namespace, tenant_sources_in_platform
from flux_fleet.validate.checks.lockdown import (
    LOCKDOWN,
    flags_of,
    flux_instances,
    flux_system_kustomizations,
    instance_lockdown,
    lockdown,
)
from flux_fleet.validate.checks.lockdown_built import (
    build_controllers,
    build_instances,
    lockdown_as_built,
)
from flux_fleet.validate.checks.pod_security import RULES as POD_RULES
from flux_fleet.validate.checks.pod_security import namespace_levels, pod_object, undeclared_skip
from flux_fleet.validate.checks.rbac_identity import (
    CLUSTER_ADMIN,
    TENANT_BINDING,
    rbac,
    sa_subjects,
)
from flux_fleet.validate.checks.rbac_identity import (
    NEW_RULES as RBAC_RULES,
)
from flux_fleet.validate.checks.references import FleetView, is_kustomize_config, unique
from flux_fleet.validate.checks.source_prefixes import NEW_RULES as SOURCE_RULES
from flux_fleet.validate.checks.source_prefixes import (
    SOURCE_URL,
    admission,
    prefix_settings,
    tenant_namespaces,
    tenant_source,
)
from flux_fleet.validate.checks.tenancy_context import RBAC, Result, Tenancy, schema_scope
from flux_fleet.validate.checks.traffic import RULES as TRAFFIC_RULES
from flux_fleet.validate.checks.traffic import network_policies, traffic_object
from flux_fleet.validate.rules import Rule, dotted

__all__ = ["RULES", "Tenancy", "check", "schema_scope"]

_KS = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n"

NO_SERVICE_ACCOUNT = Rule(
    code="FF502",
    name="tenant-without-service-account",
    severity=Severity.ERROR,
    summary="A tenant Kustomization or HelmRelease does not set spec.serviceAccountName",
    why=(
        "Without serviceAccountName the controller applies the tenant's manifests with the "
        "default ServiceAccount (lockdown) or with its own cluster-admin identity (no lockdown): "
        "either way the tenant is not confined to the rights bound in its namespace."
    ),
    fix="Set spec.serviceAccountName to the tenant's ServiceAccount (default: flux).",
    bad=_KS + "  namespace: dev-team\nspec:\n  path: ./staging\n",
    good=_KS + "  namespace: dev-team\nspec:\n  serviceAccountName: flux\n  path: ./staging\n",
)
UNKNOWN_SERVICE_ACCOUNT = Rule(
    code="FF503",
    name="tenant-service-account-unbound",
    severity=Severity.ERROR,
    summary=(
        "serviceAccountName names a ServiceAccount that is missing or not bound in the namespace"
    ),
    why=(
        "Impersonating a ServiceAccount that does not exist fails every reconciliation; one with "
        "no RoleBinding in its namespace can do nothing. Both mean the tenant's onboarding is "
        "incomplete."
    ),
    fix="Create the ServiceAccount in the same namespace and bind it with a RoleBinding there.",
    bad="spec:\n  serviceAccountName: flux   # no ServiceAccount/RoleBinding 'flux' here\n",
    good=(
        "# rbac.yaml: ServiceAccount flux + RoleBinding dev-team-reconciler (subjects: "
        "ServiceAccount flux)\n"
    ),
)
FOREIGN_IDENTITY = Rule(
    code="FF504",
    name="tenant-impersonates-foreign-identity",
    severity=Severity.ERROR,
    summary="A tenant object impersonates a Flux controller or lives in another tenant's namespace",
    why=(
        "Impersonating kustomize-controller or helm-controller gives a tenant the controllers' "
        "cluster-wide rights; an object a tenant repo places in flux-system or in another "
        "tenant's namespace runs with that namespace's identity."
    ),
    fix="Use the tenant's own ServiceAccount and keep tenant objects in the tenant's namespaces.",
    bad="spec:\n  serviceAccountName: kustomize-controller\n",
    good="spec:\n  serviceAccountName: flux\n",
)
CROSS_NAMESPACE_REF = Rule(
    code="FF505",
    name="tenant-cross-namespace-ref",
    severity=Severity.ERROR,
    summary="A tenant object references an object in another namespace",
    why=(
        "With lockdown (--no-cross-namespace-refs) such a reference fails; without it, a tenant "
        "reads another namespace's sources or triggers its reconcilers. Tenants keep their sources "
        "in their own namespace."
    ),
    fix="Drop the namespace from the reference and keep the target in the tenant's namespace.",
    bad=(
        "spec:\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: "
        "flux-system\n"
    ),
    good="spec:\n  sourceRef:\n    kind: GitRepository\n    name: dev-team\n",
)
CLUSTER_SCOPED = Rule(
    code="FF508",
    name="tenant-cluster-scoped-object",
    severity=Severity.ERROR,
    summary="A tenant repository creates a cluster-scoped object",
    why=(
        "Tenants are confined to namespaces: a Namespace, ClusterRole, CRD, webhook, "
        "PersistentVolume or StorageClass from a tenant reaches the whole cluster (and is denied "
        "at apply time under impersonation, failing the tenant's whole reconciliation)."
    ),
    fix="Ask the platform team to add it to the platform repository.",
    bad="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: my-extra-namespace\n",
    good="# request the namespace in the platform repo's tenant definition\n",
)
KUBECONFIG = Rule(
    code="FF509",
    name="tenant-kubeconfig",
    severity=Severity.ERROR,
    summary="A tenant Kustomization or HelmRelease sets spec.kubeConfig",
    why=(
        "spec.kubeConfig applies to another cluster with credentials from a Secret, bypassing "
        "impersonation and every control of this cluster."
    ),
    fix="Remove spec.kubeConfig; remote clusters are the platform's business.",
    bad="spec:\n  kubeConfig:\n    secretRef:\n      name: prod-kubeconfig\n",
    good="spec: {}\n",
)
TARGET_NAMESPACE = Rule(
    code="FF511",
    name="tenant-target-namespace",
    severity=Severity.ERROR,
    summary="A tenant object's targetNamespace is flux-system or another tenant's namespace",
    why=(
        "targetNamespace rewrites every object's namespace: pointing it at flux-system or another "
        "tenant's namespace writes there (with lockdown it fails; without, it succeeds)."
    ),
    fix="Set targetNamespace to one of the tenant's own namespaces, or remove it.",
    bad="spec:\n  targetNamespace: flux-system\n",
    good="spec:\n  targetNamespace: dev-team\n",
)
REMOTE_BASE = Rule(
    code="FF512",
    name="tenant-remote-base",
    severity=Severity.ERROR,
    summary="A tenant kustomization uses a remote base",
    why=(
        "Remote bases are fetched at reconcile time from outside the reviewed repository; the "
        "lockdown (--no-remote-bases) makes them fail."
    ),
    fix="Vendor the manifests into the repository, or use a Flux source for them.",
    bad="resources:\n  - https://github.com/org/repo//deploy?ref=main\n",
    good="resources:\n  - ./deploy\n",
)
PATH_ESCAPE = Rule(
    code="FF513",
    name="tenant-path-escape",
    severity=Severity.ERROR,
    summary="A tenant Kustomization's spec.path climbs out of its source ('..')",
    why=(
        "A path outside the source root is rejected by kustomize-controller, or reaches files the "
        "tenant does not own."
    ),
    fix="Use a path inside the tenant repository, e.g. ./staging.",
    bad="spec:\n  path: ../platform/clusters\n",
    good="spec:\n  path: ./staging\n",
)
PLATFORM_KEY = Rule(
    code="FF514",
    name="tenant-uses-platform-key",
    severity=Severity.ERROR,
    summary="A tenant Kustomization decrypts with the platform's SOPS key",
    why=(
        "The platform's decryption key opens every platform Secret; a tenant that can use it can "
        "decrypt (and apply) Secrets that are not theirs. Tenants get their own key in their own "
        "namespace."
    ),
    fix="Reference the tenant's own decryption Secret in its namespace.",
    bad="spec:\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n",
    good="spec:\n  decryption:\n    provider: sops\n    secretRef:\n      name: dev-team-age\n",
)

RULES: tuple[Rule, ...] = (
    LOCKDOWN,
    NO_SERVICE_ACCOUNT,
    UNKNOWN_SERVICE_ACCOUNT,
    FOREIGN_IDENTITY,
    CROSS_NAMESPACE_REF,
    TENANT_BINDING,
    CLUSTER_ADMIN,
    CLUSTER_SCOPED,
    KUBECONFIG,
    SOURCE_URL,
    TARGET_NAMESPACE,
    REMOTE_BASE,
    PATH_ESCAPE,
    PLATFORM_KEY,
    *RBAC_RULES,
    *SOURCE_RULES,
    *POD_RULES,
    *FLUX_SYSTEM_RULES,
    *TRAFFIC_RULES,
)


def check(inv: Inventory, settings: TenancySettings | None = None, *,
          view: FleetView | None = None, cache: Any = None) -> Iterator[Result]:
    """Every FF5xx finding and skip (pure: reads the inventory, never raises).

    ``view``: the inventory's FleetView when the caller already has it (built once per run).
    ``cache``: the run's ``build_cache.BuildCache``, for the controllers' build.
    """
    return unique(_check(inv, settings or TenancySettings(), view or FleetView.of(inv), cache))


def _check(inv: Inventory, settings: TenancySettings, view: FleetView,
           cache: Any = None) -> Iterator[Result]:
    t = Tenancy(inv, settings, view)
    lockdowns = list(flux_system_kustomizations(inv))
    if settings.tenant_mode == "off":
        return
    if settings.tenant_mode == "auto" and not _multi_tenant(t, lockdowns):
        yield Skipped(
            ".",
            1,
            "tenancy",
            "single-tenant fleet: tenancy rules not applied (no multi-tenancy lockdown flags "
            "on the Flux controllers, no flux-fleet tenants; use --tenant to check a tenant "
            "repository)",
        )
        return
    with ThreadPoolExecutor(max_workers=1) as background:
        # the controllers' build runs in a kustomize process while the objects are checked
        building = background.submit(build_controllers, inv, lockdowns, cache) if (
            not t.tenant_repo and lockdowns and inv.builds and kustomize.command()) else None
        yield from _objects(t)
        built = building.result() if building is not None else {}
    if not t.tenant_repo:
        for doc in lockdowns:
            if doc.file in built:
                yield from lockdown_as_built(doc, settings, built[doc.file])
            else:  # no kustomize here: read the patches' text
                yield from lockdown(inv, doc, settings, t.patch_memo)
        instances = list(flux_instances(inv))
        as_built = build_instances(instances) if kustomize.command() else {}
        for doc in instances:
            yield from instance_lockdown(doc, settings)
            if doc.file in as_built:
                yield from lockdown_as_built(doc, settings, as_built[doc.file], instance=True)


def _objects(t: Tenancy) -> Iterator[Result]:
    """Every rule over the objects in view, and the repository-wide ones."""
    view = t.view
    if not t.tenant_repo:
        yield from tenant_namespaces(t)
        yield from namespace_levels(t)
        yield from network_policies(t)
    yield from undeclared_skip(t)
    yield from prefix_settings(t)
    in_platform = {} if t.tenant_repo else tenant_sources_in_platform(t)
    for _, obj in view.objects:
        yield from rbac(t, obj)
        if not t.tenant_repo:
            yield from admission(t, obj)
            yield from platform_namespace(t, obj, in_platform)
        if t.is_tenant(obj):
            yield from tenant_object(t, obj)
            yield from pod_object(t, obj)
            yield from traffic_object(obj)
    if t.tenant_repo:
        yield from tenant_repo_files(t)


def _multi_tenant(t: Tenancy, lockdowns: list[Document]) -> bool:
    """Tenancy is there when the platform locked Flux down for it (the Flux multi-tenancy
    lockdown: --no-cross-namespace-refs / --default-service-account on the controllers) or
    the flux-fleet answers define tenants. Other controller flags (--concurrent) and the
    tenant label, which Flux's own examples use as an ownership label, are not tenancy."""
    if t.tenant_repo or t.settings.tenant_namespaces:
        return True
    return any(flag in flags for doc in lockdowns
               for flags in flags_of(t.inv, doc, t.patch_memo).values()
               for flag in _TENANCY_FLAGS) or any(
        FluxInstance.of(doc.data).multitenant for doc in flux_instances(t.inv))


_TENANCY_FLAGS = ("--no-cross-namespace-refs", "--default-service-account")


# --- RBAC --------------------------------------------------------------------------------------


def _sa_bound(t: Tenancy, scope: str, ns: str, name: str) -> tuple[bool, bool]:
    """(ServiceAccount exists, bound by a RoleBinding in ns) as seen from ``scope``."""
    exists = t.view.find(scope, "", "ServiceAccount", ns, name) is not None
    bound = False
    for s, rb in t.view.of_kind(RBAC, "RoleBinding", ns):
        if t.view.visible(scope, s):
            bound = bound or any(sns == ns and sname == name for _, sns, sname in sa_subjects(rb))
    return exists, bound



# --- tenant objects ----------------------------------------------------------------------------


def tenant_object(t: Tenancy, obj: KObject) -> Iterator[Result]:
    key = (obj.id.group, obj.id.kind)
    spec = flux.spec_of(obj.data)
    scope = t.view.scope(obj)
    if t.tenant_repo and obj.id.namespace:
        why = t.foreign_namespace(obj, obj.id.namespace)
        if why:
            yield FOREIGN_IDENTITY.at(
                obj,
                ("metadata", "namespace"),
                message=(f"{obj.id} is placed in {obj.id.namespace}, {why}"),
            )
    if t.tenant_repo and t.cluster_scoped(obj):
        yield CLUSTER_SCOPED.at(
            obj, ("kind",), message=f"tenant repository creates cluster-scoped {obj.id}"
        )
    if key in flux.RECONCILER_KINDS:
        yield from _reconciler(t, obj, scope, spec)
    for ref in flux.references(obj.id.group, obj.id.kind, obj.data, obj.id.namespace):
        if (
            ref.explicit_namespace
            and ref.namespace != obj.id.namespace
            and not flux.is_substituted(ref.namespace)
        ):
            why = t.foreign_namespace(obj, ref.namespace) or (
                "" if not obj.id.namespace else f"not {obj.id.namespace}"
            )
            if why:
                yield CROSS_NAMESPACE_REF.at(
                    obj,
                    (*ref.path, "namespace"),
                    message=(
                        f"{obj.id}: {dotted(ref.path)} points at namespace {ref.namespace} ({why})"
                    ),
                )
    yield from tenant_source(t, obj)


def _reconciler(t: Tenancy, obj: KObject, scope: str, spec: dict[str, Any]) -> Iterator[Result]:
    sa = spec.get("serviceAccountName")
    if not isinstance(sa, str) or not sa:
        yield NO_SERVICE_ACCOUNT.at(
            obj, ("spec",), message=f"{obj.id} has no spec.serviceAccountName"
        )
    elif sa in flux.FLUX_CONTROLLER_SAS:
        yield FOREIGN_IDENTITY.at(
            obj,
            ("spec", "serviceAccountName"),
            message=(f"{obj.id} impersonates the Flux controller ServiceAccount {sa}"),
        )
    elif not flux.is_substituted(sa):
        yield from _service_account(t, obj, scope, sa)
    if "kubeConfig" in spec:
        yield KUBECONFIG.at(obj, ("spec", "kubeConfig"), message=f"{obj.id} sets spec.kubeConfig")
    for key in ("targetNamespace", "storageNamespace"):
        target = spec.get(key)
        if isinstance(target, str) and target and target != obj.id.namespace:
            why = t.foreign_namespace(obj, target)
            if why:
                yield TARGET_NAMESPACE.at(
                    obj, ("spec", key), message=(f"{obj.id}: spec.{key} is {target}, {why}")
                )
    path = spec.get("path")
    if obj.id.kind == "Kustomization" and isinstance(path, str) and flux.path_escapes(path):
        yield PATH_ESCAPE.at(
            obj, ("spec", "path"), message=f"{obj.id}: spec.path {path} leaves the source root"
        )
    decryption = spec.get("decryption") if isinstance(spec.get("decryption"), dict) else {}
    secret = flux.get_path(decryption, ("secretRef", "name"))
    if isinstance(secret, str) and secret in t.settings.decryption_secrets:
        yield PLATFORM_KEY.at(
            obj,
            ("spec", "decryption", "secretRef", "name"),
            message=(f"{obj.id} decrypts with the platform's key Secret {secret}"),
        )
    dsa = decryption.get("serviceAccountName")
    if isinstance(dsa, str) and dsa in flux.FLUX_CONTROLLER_SAS:
        yield PLATFORM_KEY.at(
            obj,
            ("spec", "decryption", "serviceAccountName"),
            message=(f"{obj.id} decrypts as the Flux controller ServiceAccount {dsa}"),
        )


def _service_account(t: Tenancy, obj: KObject, scope: str, sa: str) -> Iterator[Result]:
    ns = obj.id.namespace
    line, _ = obj.locate(("spec", "serviceAccountName"))
    if t.tenant_repo or not ns:
        yield Skipped(
            obj.document.file,
            line,
            "service-account",
            f"ServiceAccount {sa} is created by the platform repository",
            str(obj.id),
        )
        return
    exists, bound = _sa_bound(t, scope, ns, sa)
    if exists and bound:
        return
    opener = t.view.opener_of(scope, ns, obj.id)
    if opener is not None:
        yield Skipped(
            obj.document.file,
            line,
            "service-account",
            f"ServiceAccount {ns}/{sa} may come from {opener}'s source",
            str(obj.id),
        )
        return
    what = "does not exist" if not exists else "is not bound by a RoleBinding"
    yield UNKNOWN_SERVICE_ACCOUNT.at(
        obj,
        ("spec", "serviceAccountName"),
        message=(f"{obj.id}: ServiceAccount {ns}/{sa} {what} in namespace {ns}"),
    )



# --- tenant repository files -------------------------------------------------------------------


def tenant_repo_files(t: Tenancy) -> Iterator[Finding]:
    """Remote bases in the tenant's kustomization files (kustomize output cannot show them)."""
    for doc in t.inv.documents:
        if not is_kustomize_config(doc):
            continue
        for key in ("resources", "components", "bases"):
            for i, entry in enumerate(doc.data.get(key) or []):
                if isinstance(entry, str) and flux.is_remote_resource(entry):
                    yield REMOTE_BASE.at(
                        doc, (key, i), message=f"{doc.file}: {key}[{i}] is a remote base {entry}"
                    )



def platform_settings(platform: Mapping[str, Any],
                      own: Mapping[str, Any] | None) -> TenancySettings:
    """Tenancy settings when the platform validates a tenant repo: everything from the fleet's
    answers (tenants, their namespaces, prefixes and Pod Security levels); from the tenant's own
    answers only which tenant it is, when the platform did not say."""
    name = platform.get("tenant_name") or (own or {}).get("tenant_name") or ""
    return TenancySettings.from_answers({**platform, "repo_kind": "tenant", "tenant_name": name})
