"""Tenant objects in the platform namespace (FF526): a tenant's source or reconciler moved into
flux-system.

Objects in flux-system are the platform's: a Kustomization there without serviceAccountName
runs as kustomize-controller (cluster-admin), and the lockdown's --default-service-account only
covers objects outside it in the sense that the platform's own sync impersonates the controller
on purpose. A GitRepository (or any source) that fetches a tenant's repository, placed in
flux-system, and every reconciler there that applies it, hand the tenant's repository the
platform's rights. The tenant's repository is known by URL (answers: tenants[].repo_url).
"""

from __future__ import annotations

from collections.abc import Iterator

from flux_fleet import flux
from flux_fleet.model import Finding, KObject, Severity
from flux_fleet.validate.checks.source_prefixes import parse_url, source_url
from flux_fleet.validate.checks.tenancy_context import Tenancy
from flux_fleet.validate.rules import Rule

IN_PLATFORM_NAMESPACE = Rule(
    code="FF526",
    name="tenant-source-in-platform-namespace",
    severity=Severity.ERROR,
    summary="A tenant's repository is fetched or applied from flux-system",
    why=(
        "Reconcilers in flux-system are the platform's: they run as kustomize-controller or "
        "helm-controller, with cluster-admin rights. A source of a tenant's repository in "
        "flux-system, or a Kustomization/HelmRelease there that applies it, gives whatever the "
        "tenant commits those rights (no impersonation, no namespace confinement)."
    ),
    fix=(
        "Keep the tenant's GitRepository and Kustomization in the tenant's namespace with "
        "serviceAccountName: flux (tenants/base/<tenant>/sync.yaml)."
    ),
    bad=(
        "kind: GitRepository\nmetadata:\n  name: dev-team\n  namespace: flux-system\nspec:\n"
        "  url: https://github.com/example-org/dev-team\n"
    ),
    good=(
        "kind: GitRepository\nmetadata:\n  name: dev-team\n  namespace: dev-team\nspec:\n"
        "  url: https://github.com/example-org/dev-team\n"
    ),
)

RULES: tuple[Rule, ...] = (IN_PLATFORM_NAMESPACE,)


def _tenant_of_url(t: Tenancy, url: str) -> str:
    parsed = parse_url(url)
    if parsed is None:
        return ""
    for tenant, repo in (t.settings.tenant_repos or {}).items():
        other = parse_url(repo)
        if other is not None and (other.host, other.path) == (parsed.host, parsed.path):
            return tenant
    return ""


def tenant_sources_in_platform(t: Tenancy) -> dict[tuple[str, str], str]:
    """(kind, name) of sources in the platform namespace that fetch a tenant's repo -> tenant."""
    out: dict[tuple[str, str], str] = {}
    for kind in ("GitRepository", "OCIRepository", "Bucket"):
        for _, src in t.view.of_kind(flux.SOURCE_GROUP, kind, t.settings.platform_namespace):
            found = source_url(src)
            tenant = _tenant_of_url(t, found[1]) if found else ""
            if tenant:
                out[(kind, src.id.name)] = tenant
    return out


def platform_namespace(t: Tenancy, obj: KObject, sources: dict[tuple[str, str], str]) -> Iterator[
        Finding]:
    """FF526 for one object of the platform namespace."""
    if obj.id.namespace != t.settings.platform_namespace:
        return
    tenant = sources.get((obj.id.kind, obj.id.name)) if obj.id.group == flux.SOURCE_GROUP else None
    if tenant:
        yield IN_PLATFORM_NAMESPACE.at(obj, ("metadata", "namespace"), message=(
            f"{obj.id} fetches tenant {tenant}'s repository in "
            f"{t.settings.platform_namespace}: whatever applies it runs with the platform's "
            "rights"), hint=f"move it to namespace {tenant}")
    if (obj.id.group, obj.id.kind) not in flux.RECONCILER_KINDS:
        return
    for ref in flux.references(obj.id.group, obj.id.kind, obj.data, obj.id.namespace):
        if ref.role != "source" or ref.namespace != t.settings.platform_namespace:
            continue
        owner = sources.get((ref.kind, ref.name))
        if owner:
            sa = flux.spec_of(obj.data).get("serviceAccountName") or "the controller"
            yield IN_PLATFORM_NAMESPACE.at(obj, (*ref.path, "name"), message=(
                f"{obj.id} applies tenant {owner}'s repository from "
                f"{t.settings.platform_namespace} as {sa}"),
                hint=f"move it and its source to namespace {owner} with serviceAccountName: flux")
