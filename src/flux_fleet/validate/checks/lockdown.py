"""The multi-tenancy lockdown (FF501): the Flux controllers refuse cross-namespace refs and
remote bases and impersonate a default ServiceAccount (Flux docs: "multi-tenancy lockdown")."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from flux_fleet import flux
from flux_fleet.flux import TenancySettings
from flux_fleet.flux_operator import FluxInstance, is_flux_instance
from flux_fleet.model import Document, Finding, Inventory, Severity
from flux_fleet.validate.checks.references import is_kustomize_config
from flux_fleet.validate.loader import load_text
from flux_fleet.validate.rules import Rule

LOCKDOWN = Rule(
    code="FF501",
    name="lockdown-missing",
    severity=Severity.ERROR,
    summary="A cluster's flux-system kustomization lacks a multi-tenancy lockdown flag",
    why=(
        "Without --no-cross-namespace-refs a tenant can point at another namespace's sources and "
        "Secrets; without --no-remote-bases kustomize fetches code nobody reviewed; without "
        "--default-service-account a tenant object without serviceAccountName runs with the "
        "controller's cluster-admin rights. The flags are JSON6902 patches in "
        "clusters/<cluster>/flux-system/kustomization.yaml; removing one on one cluster opens it."
    ),
    fix="Restore the lockdown patches (see the Flux 'multi-tenancy lockdown' guide) in this file.",
    bad="patches: []   # no lockdown\n",
    good=(
        "patches:\n  - patch: |\n      - op: add\n        path: "
        "/spec/template/spec/containers/0/args/-\n"
        "        value: --no-cross-namespace-refs=true\n    target:\n      kind: Deployment\n"
        '      name: "(kustomize-controller|helm-controller|notification-controller|'
        'image-reflector-controller|image-automation-controller)"\n'
    ),
)

RULES: tuple[Rule, ...] = (LOCKDOWN,)



def flux_system_kustomizations(inv: Inventory) -> Iterator[Document]:
    """kustomization.yaml documents whose resources include gotk-components.yaml."""
    for doc in inv.documents:
        if is_kustomize_config(doc) and any(
            isinstance(r, str) and posixpath.basename(r) == "gotk-components.yaml"
            for r in doc.data.get("resources") or []
        ):
            yield doc


def flux_instances(inv: Inventory) -> Iterator[Document]:
    """FluxInstance documents: with the Flux Operator, the instance carries the lockdown."""
    for doc in inv.documents:
        if is_flux_instance(doc.data):
            yield doc


def instance_lockdown(doc: Document, settings: TenancySettings) -> Iterator[Finding]:
    """The operator's lockdown: spec.cluster.multitenant and the tenants' default account."""
    instance = FluxInstance.of(doc.data)
    cluster = posixpath.dirname(posixpath.dirname(doc.file)) or "."
    where = ("spec", "cluster")
    if not instance.multitenant:
        yield LOCKDOWN.at(doc, where, message=(
            f"cluster {cluster}: FluxInstance spec.cluster.multitenant is not true, so the "
            "controllers run without the multi-tenancy lockdown"),
            hint="set spec.cluster.multitenant: true")
        return
    expected = settings.default_service_account
    if expected and instance.tenant_service_account != expected:
        yield LOCKDOWN.at(doc, where, message=(
            f"cluster {cluster}: FluxInstance spec.cluster.tenantDefaultServiceAccount is "
            f"'{instance.tenant_service_account}', tenants impersonate '{expected}'"),
            hint=f"set spec.cluster.tenantDefaultServiceAccount: {expected}")


def _patch_data(inv: Inventory, doc: Document, entry: Any,
                memo: dict[str, list[Any]] | None = None) -> list[Any]:
    """The parsed patch bodies of one patches/patchesJson6902/patchesStrategicMerge entry."""
    if isinstance(entry, str):
        text, path = (entry, None) if "\n" in entry or ":" in entry else (None, entry)
    elif isinstance(entry, dict):
        text, path = entry.get("patch"), entry.get("path")
    else:
        return []
    if isinstance(text, str):  # the loader's libyaml path; a broken patch is FF301's business
        if memo is not None and text in memo:
            return memo[text]
        docs, _ = load_text(text, doc.file)
        bodies = [d.data for d in docs if d.data is not None]
        if memo is not None:
            memo[text] = bodies
        return bodies
    if isinstance(path, str):
        file = posixpath.normpath(posixpath.join(posixpath.dirname(doc.file), path))
        return [d.data for d in inv.documents if d.file == file and d.data is not None]
    return []


def flags_of(inv: Inventory, doc: Document,
              memo: dict[str, list[Any]] | None = None) -> dict[str, dict[str, str]]:
    """controller -> {flag: value} the patches of one flux-system kustomization add."""
    out: dict[str, dict[str, str]] = {}
    entries: list[tuple[Any, Any]] = []
    for key in ("patches", "patchesJson6902"):
        for entry in doc.data.get(key) or []:
            entries.append((entry, entry.get("target") if isinstance(entry, dict) else None))
    for entry in doc.data.get("patchesStrategicMerge") or []:
        entries.append((entry, None))
    for entry, target in entries:
        for body in _patch_data(inv, doc, entry, memo):
            for controller, args in _args_in(body, target):
                flags = out.setdefault(controller, {})
                for arg in args:
                    parsed = flux.parse_flag(arg)
                    if parsed is not None:
                        flags[parsed[0]] = parsed[1]
    return out


def _args_in(body: Any, target: Any) -> Iterator[tuple[str, list[str]]]:
    """(controller, container args) a JSON6902 or strategic-merge patch body adds."""
    args: list[str] = []
    controllers: list[str] = [c for c in flux.FLUX_CONTROLLERS if flux.target_matches(target, c)]
    if isinstance(body, list):  # JSON6902
        for op in body:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace"):
                continue
            path = str(op.get("path", ""))
            if "/containers/" in path and "/args" in path:
                value = op.get("value")
                args.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    elif isinstance(body, dict):  # strategic merge: names its Deployment itself
        name = flux.get_path(body, ("metadata", "name"))
        if isinstance(name, str) and target is None:
            controllers = [name]
        for container in flux.get_path(body, ("spec", "template", "spec", "containers")) or []:
            if isinstance(container, dict):
                args.extend(str(a) for a in container.get("args") or [])
    if args:
        for c in controllers:
            yield c, args


def _installed_controllers(inv: Inventory, doc: Document) -> set[str] | None:
    """Deployments in the sibling gotk-components.yaml, or None while it is still empty."""
    file = posixpath.join(posixpath.dirname(doc.file), "gotk-components.yaml")
    names = {
        str(flux.get_path(d.data, ("metadata", "name")))
        for d in inv.documents
        if d.file == file and isinstance(d.data, dict) and d.data.get("kind") == "Deployment"
    }
    return names or None


def lockdown(inv: Inventory, doc: Document, settings: TenancySettings,
             memo: dict[str, list[Any]] | None = None) -> Iterator[Finding]:
    """One finding per lockdown flag that is missing or altered on some controllers."""
    flags = flags_of(inv, doc, memo)
    installed = _installed_controllers(inv, doc)
    cluster = posixpath.dirname(posixpath.dirname(doc.file)) or "."
    where = ("patches",) if "patches" in doc.data else ()
    for flag, controllers in flux.LOCKDOWN_FLAGS.items():
        expected = (
            settings.default_service_account if flag == "--default-service-account" else "true"
        )
        missing, altered = [], []
        for c in controllers:
            if installed is not None and c not in installed:
                continue
            value = flags.get(c, {}).get(flag)
            if value is None:
                missing.append(c)
            elif (expected and value != expected) or not value:
                altered.append(f"{c} ({flag}={value})")
        want = f"{flag}={expected or '<service account>'}"
        if missing:
            yield LOCKDOWN.at(
                doc, where, message=f"cluster {cluster}: {want} is missing on {', '.join(missing)}"
            )
        if altered:
            yield LOCKDOWN.at(
                doc, where, message=f"cluster {cluster}: {want} is altered on {', '.join(altered)}"
            )

