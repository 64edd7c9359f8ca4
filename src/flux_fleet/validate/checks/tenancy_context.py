"""Who is a tenant in one inventory: the context every tenancy rule module reads.

Kept apart from the rules so the rule modules (lockdown, RBAC, pod security, sources) share it
without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from flux_fleet import flux
from flux_fleet.flux import TenancySettings
from flux_fleet.model import Finding, Inventory, KObject, Skipped
from flux_fleet.validate.checks.references import FleetView

Result = Finding | Skipped
RBAC = "rbac.authorization.k8s.io"


@dataclass
class Tenancy:
    """Who is a tenant in this inventory, computed once per run."""

    inv: Inventory
    settings: TenancySettings
    view: FleetView
    # inline patch text -> parsed bodies: every cluster's flux-system has the same lockdown
    patch_memo: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def tenant_repo(self) -> bool:
        return self.inv.tenant_repo or self.settings.tenant_repo

    @cached_property
    def tenant_of_ns(self) -> dict[str, str]:
        """namespace -> tenant name, for every tenant namespace of a platform repo."""
        out: dict[str, str] = {}
        for tenant, nss in (self.settings.tenant_namespaces or {}).items():
            for ns in nss:
                out[ns] = tenant
        for _, obj in self.view.of_kind("", "Namespace"):
            label = flux.labels_of(obj.data).get(flux.TENANT_LABEL)
            if isinstance(label, str) and label:
                out.setdefault(obj.id.name, label)
        for group, kind in flux.RECONCILER_KINDS:
            for _, obj in self.view.of_kind(group, kind):
                ns = obj.id.namespace
                if ns and ns != self.settings.platform_namespace:
                    out.setdefault(ns, ns)
        return out

    @cached_property
    def tenant_cluster_roles(self) -> frozenset[str]:
        """ClusterRoles bound to a tenant identity, or by a RoleBinding in a tenant namespace."""
        from flux_fleet.validate.checks.rbac_identity import subjects

        out: set[str] = set()
        for kind in ("RoleBinding", "ClusterRoleBinding"):
            for _, b in self.view.of_kind(RBAC, kind):
                ref = b.data.get("roleRef")
                if not isinstance(ref, dict) or ref.get("kind") != "ClusterRole":
                    continue
                if self.is_tenant(b) or any(
                        who.namespace in self.tenant_of_ns or who.broad for _, who in subjects(b)):
                    out.add(str(ref.get("name")))
        return frozenset(out)

    @cached_property
    def tenant_policies(self) -> frozenset[str]:
        """ValidatingAdmissionPolicies that guard tenants (bound on the tenant label)."""
        out: set[str] = set()
        for _, b in self.view.of_kind("admissionregistration.k8s.io",
                                      "ValidatingAdmissionPolicyBinding"):
            spec = flux.spec_of(b.data)
            selector = flux.get_path(spec, ("matchResources", "namespaceSelector"))
            if flux.TENANT_LABEL in repr(selector) and isinstance(spec.get("policyName"), str):
                out.add(spec["policyName"])
        for _, p in self.view.of_kind("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"):
            if p.id.name.startswith("flux-tenant-"):
                out.add(p.id.name)
        return frozenset(out)

    @cached_property
    def owner_by_answers(self) -> dict[str, str]:
        """namespace -> the tenant the answers give it (settings.namespace_owner, as a map)."""
        out: dict[str, str] = {}
        for tenant, nss in (self.settings.tenant_namespaces or {}).items():
            for ns in nss:
                out.setdefault(ns, tenant)
        return out

    @cached_property
    def namespace_objects(self) -> dict[str, KObject]:
        """name -> the Namespace object (the first one in view order), looked up per object."""
        out: dict[str, KObject] = {}
        for _, ns in self.view.of_kind("", "Namespace"):
            out.setdefault(ns.id.name, ns)
        return out

    @cached_property
    def pod_security_declared(self) -> bool:
        """A pod-security.kubernetes.io/* label on some Namespace, or a pod_security answer."""
        return bool(self.settings.tenant_pod_security) or any(
            any(str(k).startswith("pod-security.kubernetes.io/") for k in flux.labels_of(ns.data))
            for ns in self.namespace_objects.values())

    @cached_property
    def labelled(self) -> bool:
        return any(
            isinstance(flux.labels_of(o.data).get(flux.TENANT_LABEL), str)
            for _, o in self.view.of_kind("", "Namespace")
        )

    @cached_property
    def is_namespaced(self) -> Callable[[str, str], bool | None]:
        return schema_scope()

    def cluster_scoped(self, obj: KObject) -> bool:
        known = self.is_namespaced(obj.api_version, obj.id.kind)
        return (
            (not known) if known is not None else flux.is_cluster_scoped(obj.id.group, obj.id.kind)
        )

    def is_tenant(self, obj: KObject) -> bool:
        return self.tenant_repo or obj.id.namespace in self.tenant_of_ns

    def own_tenant(self, obj: KObject) -> str:
        if self.tenant_repo:
            return self.settings.tenant_name or self.tenant_of_ns.get(obj.id.namespace, "")
        return self.tenant_of_ns.get(obj.id.namespace, "")

    def foreign_namespace(self, obj: KObject, ns: str) -> str:
        """Why ``ns`` is not the tenant's own ('' when it may be): platform, or another tenant's."""
        if ns == self.settings.platform_namespace:
            return "the platform namespace"
        mine = self.own_tenant(obj)
        owner = self.settings.namespace_owner(ns) or self.tenant_of_ns.get(ns, "")
        if owner and mine and owner != mine:
            return f"tenant {owner}'s namespace"
        if (
            self.tenant_repo
            and self.settings.own_namespaces()
            and ns not in self.settings.own_namespaces()
        ):
            return "a namespace this tenant does not own"
        return ""


def schema_scope() -> Callable[[str, str], bool | None]:
    """The schema store's is_namespaced when it is available, else always 'unknown'."""
    try:
        from flux_fleet.resources import schemas_dir
        from flux_fleet.validate.schema_store import SchemaStore  # type: ignore[import-not-found]

        return SchemaStore(schemas_dir()).is_namespaced  # type: ignore[no-any-return]
    except Exception:  # the table in flux.py is the fallback
        return lambda _api, _kind: None

