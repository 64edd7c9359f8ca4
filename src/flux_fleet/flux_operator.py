"""Facts about the Flux Operator (fluxcd.controlplane.io) that the validator needs.

The operator's CRDs are AGPL, so flux-fleet ships neither them nor schemas derived from them:
its kinds are known here by name, and a FluxInstance is read only for what the tenancy and
answers checks need (lockdown, sync, version, components). Field names follow the operator's
FluxInstance API (spec.distribution, spec.components, spec.cluster, spec.sync).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GROUP = "fluxcd.controlplane.io"
KINDS = frozenset({"FluxInstance", "FluxReport", "ResourceSet", "ResourceSetInputProvider"})
SKIP_REASON = "Flux Operator CRD is AGPL, not shipped"
# spec.components when omitted (the operator's default: the core controllers)
DEFAULT_COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller",
                      "notification-controller")
IMAGE_COMPONENTS = ("image-reflector-controller", "image-automation-controller")


def is_operator_kind(api_version: str, kind: str) -> bool:
    """True for the operator's own kinds, whose schema flux-fleet does not ship."""
    return api_version.rpartition("/")[0] == GROUP and kind in KINDS


def is_flux_instance(data: Any) -> bool:
    return (isinstance(data, dict) and data.get("kind") == "FluxInstance"
            and str(data.get("apiVersion", "")).rpartition("/")[0] == GROUP)


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class FluxInstance:
    """What one FluxInstance says about its cluster (absent fields as the operator defaults)."""

    version: str
    components: tuple[str, ...]
    multitenant: bool
    tenant_service_account: str
    sync_kind: str
    sync_url: str
    sync_ref: str
    sync_path: str
    has_sync: bool

    @classmethod
    def of(cls, data: dict[str, Any]) -> FluxInstance:
        spec = _map(data.get("spec"))
        cluster, sync = _map(spec.get("cluster")), _map(spec.get("sync"))
        components = spec.get("components")
        return cls(
            version=str(_map(spec.get("distribution")).get("version", "")),
            components=(tuple(str(c) for c in components) if isinstance(components, list)
                        else DEFAULT_COMPONENTS),
            multitenant=cluster.get("multitenant") is True,
            tenant_service_account=str(cluster.get("tenantDefaultServiceAccount") or "default"),
            sync_kind=str(sync.get("kind", "")),
            sync_url=str(sync.get("url", "")),
            sync_ref=str(sync.get("ref", "")),
            sync_path=str(sync.get("path", "")),
            has_sync=bool(sync),
        )

    def branch(self) -> str:
        """The branch a GitRepository sync follows ('' for a tag, commit or other ref)."""
        ref = self.sync_ref
        return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") or (
            "/" not in ref and ref) else ""


def same_version(instance_version: str, flux_version: str) -> bool:
    """distribution.version pins the answers' release ('v' prefix optional)."""
    return instance_version.removeprefix("v") == flux_version.removeprefix("v")


def expected_components(image_automation: bool) -> tuple[str, ...]:
    """spec.components the answers call for."""
    return DEFAULT_COMPONENTS + (IMAGE_COMPONENTS if image_automation else ())
