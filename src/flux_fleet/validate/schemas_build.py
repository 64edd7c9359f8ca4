"""Generate the JSON Schema store (kubeconform's layout) from CRDs and Kubernetes JSON Schemas.

One store serves two consumers: flux-fleet's Python validator and ``kubeconform
-schema-location 'schemas/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'``. kubeconform
fills ``{{.Group}}`` with the part of apiVersion before the slash, which is ``v1`` for the core
group, so core kinds live under ``v1/`` (e.g. ``v1/namespace_v1.json``).

Every file is standalone: the Kubernetes definitions a kind needs are copied into its own
``$defs`` (recursive ones such as JSONSchemaProps stay references), descriptions are stripped,
and the CEL rules (``x-kubernetes-validations``) stay where the CRD put them, so the same file
drives JSON Schema validation and CEL evaluation. Output is deterministic (sorted keys), so a test
can regenerate the store and fail on drift.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flux_fleet.errors import UserError
from flux_fleet.validate.cel import CelRule, collect_rules

DRAFT = "https://json-schema.org/draft/2020-12/schema"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
INDEX_FILE = "index.json"
BUILD_HINT = "do not edit: regenerate with `flux-fleet schemas build`"

# Kubernetes kinds that fleets use: (kubernetes-validate file name, namespaced).
KUBERNETES_KINDS: tuple[tuple[str, bool], ...] = (
    ("clusterrole-rbac-v1.json", False),
    ("clusterrolebinding-rbac-v1.json", False),
    ("configmap-v1.json", True),
    ("cronjob-batch-v1.json", True),
    ("customresourcedefinition-apiextensions-v1.json", False),
    ("daemonset-apps-v1.json", True),
    ("deployment-apps-v1.json", True),
    ("horizontalpodautoscaler-autoscaling-v1.json", True),
    ("horizontalpodautoscaler-autoscaling-v2.json", True),
    ("ingress-networking-v1.json", True),
    ("job-batch-v1.json", True),
    ("limitrange-v1.json", True),
    ("mutatingwebhookconfiguration-admissionregistration-v1.json", False),
    ("namespace-v1.json", False),
    ("networkpolicy-networking-v1.json", True),
    ("persistentvolume-v1.json", False),
    ("persistentvolumeclaim-v1.json", True),
    ("pod-v1.json", True),
    ("poddisruptionbudget-policy-v1.json", True),
    ("priorityclass-scheduling-v1.json", False),
    ("resourcequota-v1.json", True),
    ("role-rbac-v1.json", True),
    ("rolebinding-rbac-v1.json", True),
    ("secret-v1.json", True),
    ("service-v1.json", True),
    ("serviceaccount-v1.json", True),
    ("statefulset-apps-v1.json", True),
    ("storageclass-storage-v1.json", False),
    ("validatingadmissionpolicy-admissionregistration-v1.json", False),
    ("validatingadmissionpolicybinding-admissionregistration-v1.json", False),
    ("validatingwebhookconfiguration-admissionregistration-v1.json", False),
)

# Flux API versions no longer served, and the release that dropped them (crds/README.md).
FLUX_UNSERVED: dict[str, dict[str, str]] = {
    "source.toolkit.fluxcd.io": {
        "v1beta1": "source-controller v1.7.0 (Flux 2.7)",
        "v1beta2": "source-controller v1.8.0 (Flux 2.8)",
    },
    "kustomize.toolkit.fluxcd.io": {
        "v1beta1": "kustomize-controller v1.7.0 (Flux 2.7)",
        "v1beta2": "kustomize-controller v1.8.0 (Flux 2.8)",
    },
    "helm.toolkit.fluxcd.io": {
        "v2beta1": "helm-controller v1.4.0 (Flux 2.7)",
        "v2beta2": "helm-controller v1.5.0 (Flux 2.8)",
    },
    "notification.toolkit.fluxcd.io": {
        "v1beta1": "notification-controller v1.7.0 (Flux 2.7)",
        "v1beta2": "notification-controller v1.9.0 (Flux 2.9)",
    },
    "image.toolkit.fluxcd.io": {
        "v1beta1": "image-reflector-controller and image-automation-controller v1.0.0 (Flux 2.7)",
        "v1beta2": "image-reflector-controller and image-automation-controller v1.2.0 (Flux 2.9)",
    },
}

# Where each Flux controller's CRDs were copied from (crds/README.md), for the attribution header.
FLUX_SOURCES: dict[str, str] = {
    "source-controller": "39b711b111fa906c3db0a424e252a5d12e48646d",
    "kustomize-controller": "186fb3b29138ce82ff61ba1a9370b96a3dd598fe",
    "helm-controller": "0f61a8607a62be64638f2f912d9487e653960a6e",
    "notification-controller": "2e46958a67f3af0e3e755a4fcaf7397d5803725e",
    "image-reflector-controller": "debe2aaa3a98ad3ca69e178638402a5a0feec4a6",
    "image-automation-controller": "d36e2ea07a3973a0e8ace7678d933a89b76f9dda",
    "source-watcher": "825fa15baf96858578d8dd0ed3c75ff7a75f01ce",
}
KUBERNETES_ATTRIBUTION = (
    "Kubernetes v1.37.0 OpenAPI (Apache-2.0, The Kubernetes Authors), via the JSON Schemas of "
    "kubernetes-validate 1.37.0 (Apache-2.0)"
)

# Keywords dropped from every schema node: prose and merge semantics the validator ignores.
_DROP = frozenset({
    "description", "$id", "x-kubernetes-group-version-kind", "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys", "x-kubernetes-map-type", "x-kubernetes-unions",
    "x-kubernetes-patch-strategy", "x-kubernetes-patch-merge-key",
})
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains")


@dataclass(frozen=True)
class KindEntry:
    """One row of schemas/index.json."""

    api_version: str
    kind: str
    file: str | None  # store-relative path, None when the version is no longer served
    namespaced: bool
    served: bool = True
    source: str = "crd"  # "crd" (the whole group is covered) or "kubernetes" (selected kinds)
    removed_in: str = ""
    use: str = ""  # the served apiVersion to migrate to
    cel: tuple[CelRule, ...] = ()  # the schema's CEL rules, so a run need not search for them

    def as_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"file": self.file, "namespaced": self.namespaced,
                               "served": self.served, "source": self.source}
        if self.cel:
            row["cel"] = [{"where": list(r.where), "rule": r.rule, "message": r.message}
                          for r in self.cel]
        if self.removed_in:
            row["removed_in"] = self.removed_in
        if self.use:
            row["use"] = self.use
        return row


def schema_file(api_version: str, kind: str) -> str:
    """Store path of a kind: kubeconform's ``{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}``.

    kubeconform's Group is the text before the slash, so core kinds (``v1``) land in ``v1/``.
    """
    group, _, version = api_version.rpartition("/")
    return f"{group or version}/{kind.lower()}_{version}.json"


def render_json(data: Any) -> str:
    """The one serialisation of store files: stable key order, stable whitespace."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _clean(node: Any) -> Any:
    """Drop prose and merge hints from a schema node, recursing only into subschemas.

    Recursion is keyword-aware: a *property* called ``description`` (as in JSONSchemaProps)
    is kept; only the ``description`` keyword goes.
    """
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _clean(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [_clean(sub) for sub in value]
        elif key in _SUBSCHEMA_ONE and isinstance(value, dict):
            out[key] = _clean(value)
        else:
            out[key] = value
    return out


def _strict_openapi(node: Any) -> Any:
    """Turn an OpenAPI v3 structural-schema node into a strict JSON Schema node.

    int-or-string becomes anyOf integer/string, nullable becomes a ``null`` type, and objects
    with properties reject unknown fields unless they preserve unknown fields.
    """
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key in _SUBSCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: _strict_openapi(sub) for name, sub in out[key].items()}
    for key in _SUBSCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [_strict_openapi(sub) for sub in out[key]]
    for key in _SUBSCHEMA_ONE:
        if isinstance(out.get(key), dict):
            out[key] = _strict_openapi(out[key])
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def _refs(node: Any) -> Iterator[str]:
    """Every definition name a node refers to (``.../$defs/NAME``)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and "/$defs/" in ref:
            yield ref.rsplit("/$defs/", 1)[1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _localise(node: Any) -> Any:
    """Point every ``$ref`` at the file's own ``$defs`` (kind files refer to _definitions.json)."""
    if isinstance(node, dict):
        out = {k: _localise(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and "/$defs/" in ref:
            out["$ref"] = "#/$defs/" + ref.rsplit("/$defs/", 1)[1]
        return out
    if isinstance(node, list):
        return [_localise(v) for v in node]
    return node


class _Definitions:
    """The Kubernetes ``_definitions.json``, cleaned once, with a closure over references."""

    def __init__(self, path: Path) -> None:
        raw = _read_json(path).get("$defs")
        if not isinstance(raw, dict):
            raise UserError(f"{path}: no $defs object", hint="point --kubernetes at a "
                            "kubernetes-validate '-local-strict' schema folder")
        self.defs = {name: _localise(_clean(d)) for name, d in raw.items()}
        # kubernetes-validate writes IntOrString as oneOf, which rejects null twice over.
        self.defs[INT_OR_STRING] = {"anyOf": [{"type": "integer"}, {"type": "string"},
                                              {"type": "null"}]}
        self.path = path

    def closure(self, roots: Iterable[str]) -> dict[str, Any]:
        todo, seen = list(roots), {}
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            if name not in self.defs:
                raise UserError(f"{self.path}: missing definition {name}")
            seen[name] = self.defs[name]
            todo.extend(_refs(seen[name]))
        return dict(sorted(seen.items()))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object")
    return data


def _metadata_property() -> dict[str, Any]:
    return {"$ref": f"#/$defs/{OBJECT_META}", "required": ["name"], "type": "object"}


def _top_level(schema: dict[str, Any], api_version: str, kind: str, comment: str,
               defs: dict[str, Any], require_spec: bool) -> dict[str, Any]:
    props = dict(schema.get("properties") or {})
    props["apiVersion"] = {"const": api_version, "type": "string"}
    props["kind"] = {"const": kind, "type": "string"}
    props["metadata"] = _metadata_property()
    required = {"apiVersion", "kind", "metadata", *schema.get("required", ())}
    if require_spec:
        required.add("spec")
    out = {k: v for k, v in schema.items() if k not in ("properties", "required", "$schema")}
    out.update({
        "$schema": DRAFT,
        "$comment": comment,
        "$defs": defs,
        "type": "object",
        "properties": props,
        "required": sorted(required),
        "additionalProperties": False,
    })
    return out


def crd_version_schema(version: dict[str, Any], api_version: str, kind: str, comment: str,
                       meta_defs: dict[str, Any]) -> dict[str, Any]:
    """One served version of a CRD as the store's strict JSON Schema (what the API server
    checks: the structural schema, unknown fields pruned = rejected here, nullable, int-or-
    string)."""
    raw = ((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"}
    body = _strict_openapi(_clean(raw))
    spec_schema = (body.get("properties") or {}).get("spec") or {}
    return _top_level(body, api_version, kind, comment, meta_defs,
                      require_spec=bool(spec_schema.get("required")))


def _load_crds(crds_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(crds_dir.rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        try:
            docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise UserError(f"{path}: cannot read YAML: {exc}") from exc
        found.extend((path, d) for d in docs
                     if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition")
    if not found:
        raise UserError(f"{crds_dir}: no CustomResourceDefinition found in *.yaml files",
                        hint="point --crds at a folder of CRD YAML files (e.g. config/crd/bases)")
    return found


def _crd_comment(path: Path, crds_dir: Path) -> str:
    rel = path.relative_to(crds_dir).as_posix()
    controller = path.parent.name
    commit = FLUX_SOURCES.get(controller)
    if commit:
        return (f"Generated by flux-fleet from fluxcd/{controller}@{commit[:12]} "
                f"config/crd/bases/{path.name} (Apache-2.0, Copyright The Flux authors); "
                f"{BUILD_HINT}")
    return f"Generated by flux-fleet from the CRD {rel}; {BUILD_HINT}"


def build_store(crds_dir: Path, kubernetes_dir: Path) -> dict[str, str]:
    """Every file of the store (path relative to the store -> text), index.json included."""
    definitions = _Definitions(kubernetes_dir / "_definitions.json")
    meta_defs = definitions.closure([OBJECT_META])
    files: dict[str, str] = {}
    entries: list[KindEntry] = []

    for path, crd in _load_crds(crds_dir):
        spec = crd.get("spec") or {}
        group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        for version in spec.get("versions") or ():
            api_version = f"{group}/{version['name']}"
            if not version.get("served", False):
                entries.append(KindEntry(api_version, kind, None, namespaced, served=False))
                continue
            schema = crd_version_schema(version, api_version, kind,
                                        _crd_comment(path, crds_dir), meta_defs)
            rel = schema_file(api_version, kind)
            files[rel] = render_json(schema)
            entries.append(KindEntry(api_version, kind, rel, namespaced,
                                     cel=collect_rules(schema)))

    for name, namespaced in KUBERNETES_KINDS:
        raw = _read_json(kubernetes_dir / name)
        gvk = (raw.get("x-kubernetes-group-version-kind") or [{}])[0]
        group, version, kind = gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")
        if not kind or not version:
            raise UserError(f"{kubernetes_dir / name}: no x-kubernetes-group-version-kind")
        api_version = f"{group}/{version}" if group else version
        body = _localise(_clean(raw))
        props = {k: v for k, v in (body.get("properties") or {}).items() if k != "metadata"}
        body["properties"] = props
        defs = {**definitions.closure(_refs(props)), **meta_defs}
        comment = f"Generated by flux-fleet from {KUBERNETES_ATTRIBUTION}; {BUILD_HINT}"
        schema = _top_level(body, api_version, kind, comment, dict(sorted(defs.items())),
                            require_spec=False)
        rel = schema_file(api_version, kind)
        files[rel] = render_json(schema)
        entries.append(KindEntry(api_version, kind, rel, namespaced, source="kubernetes",
                                 cel=collect_rules(schema)))

    entries.extend(_unserved_entries(entries))
    files[INDEX_FILE] = render_json(_index(entries))
    return dict(sorted(files.items()))


def _unserved_entries(entries: list[KindEntry]) -> list[KindEntry]:
    """Rows for the Flux API versions that are gone, pointing at the served version to use."""
    served = {(e.api_version, e.kind) for e in entries if e.served}
    out = []
    for entry in entries:
        group = entry.api_version.rpartition("/")[0]
        if not entry.served or entry.source != "crd":
            continue
        for version, removed_in in FLUX_UNSERVED.get(group, {}).items():
            old = f"{group}/{version}"
            if (old, entry.kind) not in served:
                out.append(KindEntry(old, entry.kind, None, entry.namespaced, served=False,
                                     removed_in=removed_in, use=entry.api_version))
    return out


def _index(entries: list[KindEntry]) -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = {}
    for e in sorted(entries, key=lambda e: (e.api_version, e.kind)):
        kinds.setdefault(e.api_version, {})[e.kind] = e.as_json()
    complete = sorted({e.api_version.rpartition("/")[0] for e in entries if e.source == "crd"})
    return {
        "$comment": ("flux-fleet schema store index: apiVersion -> kind -> schema file, scope and "
                     f"whether the version is served; {BUILD_HINT}. Sources and licences: "
                     "docs/schemas.md"),
        "complete_groups": complete,
        "kinds": kinds,
    }


def write_store(files: Mapping[str, str], out: Path) -> list[str]:
    """Write the store into ``out``, removing stale .json files; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in sorted(out.rglob("*.json")):
        if stale.relative_to(out).as_posix() not in files:
            stale.unlink()
    for rel, text in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    for folder in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return list(files)


def store_drift(files: Mapping[str, str], store: Path) -> list[str]:
    """One line per difference between the generated files and a store on disk."""
    on_disk = ({p.relative_to(store).as_posix() for p in store.rglob("*.json")}
               if store.is_dir() else set())
    problems = [f"{rel}: missing from the store" for rel in sorted(set(files) - on_disk)]
    problems += [f"{rel}: not generated (stale file)" for rel in sorted(on_disk - set(files))]
    for rel in sorted(on_disk & set(files)):
        if (store / rel).read_text(encoding="utf-8") != files[rel]:
            problems.append(f"{rel}: differs from what the generator writes")
    return problems
