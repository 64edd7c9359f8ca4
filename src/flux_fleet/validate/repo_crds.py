"""CustomResourceDefinitions the repository ships: their kinds are checked, not skipped.

A fleet that installs a controller from its own manifests (the CRDs in the repository, as
Flux's own ``gotk-components.yaml`` does) tells the API server what those kinds look like;
validating their objects against the CRDs as written does what the API server will do instead
of skipping them with "no schema". Shipped schemas win (they are the Flux release this tool
knows; a fleet's older gotk-components is judged by ``flux_version`` instead).

The repository is untrusted input (a tenant's pull request): the CRDs' ``pattern`` keywords and
CEL rules are not evaluated — a hostile regular expression or rule could make one check run
without bound — only types, required fields, enums and unknown fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flux_fleet.model import KObject
from flux_fleet.validate.schema_store import SchemaStore
from flux_fleet.validate.schemas_build import crd_version_schema

CRD_API = "apiextensions.k8s.io/v1"
_UNSAFE = ("pattern", "patternProperties", "x-kubernetes-validations")


def _safe(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _safe(v) for k, v in node.items() if k not in _UNSAFE}
    if isinstance(node, list):
        return [_safe(v) for v in node]
    return node


def register(objects: Iterable[KObject], store: SchemaStore) -> list[str]:
    """Give the store a schema for each served version the repository's CRDs define and the
    store lacks; returns the ``apiVersion kind`` pairs added."""
    added: list[str] = []
    meta: dict[str, Any] | None = None
    for obj in objects:
        if obj.api_version != CRD_API or obj.id.kind != "CustomResourceDefinition":
            continue
        spec = obj.data.get("spec")
        if not isinstance(spec, dict):
            continue
        group = spec.get("group")
        names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
        kind = names.get("kind")
        if not isinstance(group, str) or not isinstance(kind, str):
            continue
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        for version in spec.get("versions") or ():
            if not isinstance(version, dict) or not version.get("served", False):
                continue
            api_version = f"{group}/{version.get('name')}"
            if store.has_schema(api_version, kind):
                continue
            if meta is None:
                meta = store.object_meta_defs()
            schema = crd_version_schema(_safe(version), api_version, kind,
                                        f"from the CRD at {obj.document.file}", meta)
            store.register(api_version, kind, schema, namespaced, obj.document.file)
            added.append(f"{api_version} {kind}")
    return added
