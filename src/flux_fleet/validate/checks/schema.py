"""Schema checks (FF2xx): known kinds, strict JSON Schema, CRD CEL rules, unserved API versions.

Each object is checked against the store's strict schema for its apiVersion/kind; every error
becomes one finding at the offending key. What cannot be checked offline — kinds without a
schema, ``${VAR}`` placeholders that Flux substitutes at apply time, CEL rules that cannot be
evaluated — is reported as Skipped with the reason, never as a finding and never silently.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Any

from flux_fleet import flux_operator
from flux_fleet.model import Finding, KObject, Path, Severity, Skipped
from flux_fleet.validate.cel import CelError, nodes_at
from flux_fleet.validate.flux_version import still_served
from flux_fleet.validate.rules import Rule, dotted
from flux_fleet.validate.schema_store import SchemaStore

UNKNOWN_KIND = Rule(
    code="FF201",
    name="unknown-kind",
    severity=Severity.ERROR,
    summary="No schema for this apiVersion/kind",
    why=(
        "An object whose apiVersion or kind the cluster does not serve is rejected at apply "
        "time, and the whole Flux Kustomization that carries it fails. For the Flux API groups "
        "the store knows every kind, so an unknown kind or version there is a typo and always "
        "reported. For other groups (third-party CRDs) an unknown kind is reported as skipped "
        "(\"no schema\"), and as this finding only with `--strict`."
    ),
    fix="fix the apiVersion/kind spelling, or add the CRD's schema to the store",
    bad="apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomisation\n",
    good="apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n",
)
SCHEMA_VIOLATION = Rule(
    code="FF202",
    name="schema-violation",
    severity=Severity.ERROR,
    summary="The object does not match its schema",
    why=(
        "The API server validates every object against its OpenAPI schema and rejects unknown "
        "fields, wrong types, values outside an enum and strings that miss a pattern. One bad "
        "field fails the dry-run of the whole Flux Kustomization, so nothing in it is applied."
    ),
    fix="correct the value or remove the field (see the CRD's API reference)",
    bad=(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: app\n"
        "spec:\n  interval: 5\n  url: https://github.com/org/app\n  branch: main\n"
    ),
    good=(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: app\n"
        "spec:\n  interval: 5m\n  url: https://github.com/org/app\n  ref:\n    branch: main\n"
    ),
)
CEL_VIOLATION = Rule(
    code="FF203",
    name="cel-rule-violated",
    severity=Severity.ERROR,
    summary="A validation rule of the CRD (x-kubernetes-validations) is violated",
    why=(
        "CRDs carry CEL rules that JSON Schema cannot express, such as \"either chart or "
        "chartRef must be set\". The API server enforces them and rejects the object; "
        "kubeconform does not evaluate them, so only a CEL-aware check catches them before "
        "the cluster does."
    ),
    fix="change the fields so that the rule holds (the message says which combination)",
    bad=(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n"
        "spec:\n  interval: 10m\n  chartRef:\n    kind: OCIRepository\n    name: web\n"
        "  chart:\n    spec:\n      chart: web\n      sourceRef:\n        kind: HelmRepository\n"
        "        name: charts\n"
    ),
    good=(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n"
        "spec:\n  interval: 10m\n  chartRef:\n    kind: OCIRepository\n    name: web\n"
    ),
)
UNSERVED_VERSION = Rule(
    code="FF204",
    name="unserved-api-version",
    severity=Severity.ERROR,
    summary="This API version is deprecated and no longer served by current Flux",
    why=(
        "Flux removes old API versions (e.g. source.toolkit.fluxcd.io/v1beta2 in Flux 2.8). "
        "Manifests that still use them fail to apply after the upgrade, and the Kustomization "
        "that carries them stops reconciling everything else too."
    ),
    fix="run `flux migrate -f <path>` to rewrite the manifests to the served version",
    bad="apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: GitRepository\n",
    good="apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\n",
)
MISSING_NAME = Rule(
    code="FF205",
    name="missing-name",
    severity=Severity.ERROR,
    summary="metadata.name is missing",
    why=(
        "Every object applied by Flux needs a name: the API server rejects objects without "
        "one, and `generateName` does not work with server-side apply."
    ),
    fix="add metadata.name",
    bad="apiVersion: v1\nkind: Namespace\nmetadata:\n  labels:\n    team: dev\n",
    good="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n  labels:\n    team: dev\n",
)

RULES: tuple[Rule, ...] = (
    UNKNOWN_KIND, SCHEMA_VIOLATION, CEL_VIOLATION, UNSERVED_VERSION, MISSING_NAME,
)

KUSTOMIZE_CONFIG = "kustomize.config.k8s.io/"

# Errors that a string placeholder can cause and that substitution at apply time may resolve.
_VALUE_KEYWORDS = frozenset({
    "type", "pattern", "enum", "const", "format", "minLength", "maxLength", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "anyOf", "oneOf",
})


def _placeholder(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _has_placeholder(value: Any) -> bool:
    """Any ``${`` string (key or value) below ``value``; iterative, so depth cannot crash it."""
    todo = [value]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if any(_placeholder(k) for k in node):
                return True
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
        elif _placeholder(node):
            return True
    return False


def _skip(obj: KObject, path: Path, what: str, reason: str) -> Skipped:
    return Skipped(file=obj.document.file, line=obj.locate(path)[0], what=what, reason=reason,
                   object=str(obj.id))


def _where(path: Path) -> str:
    return f"{dotted(path)}: " if path else ""


#: where a value is a secret or a generator's input: a Secret's or ConfigMap's payload (a
#: generated ConfigMap holds configMapGenerator literals/env/files), and anything in a
#: SOPS-encrypted document. Findings there name the key and what is wrong, never the value:
#: reports end up in uploaded SARIF and public pull-request annotations (issue 11).
_PAYLOAD_KINDS = frozenset({"Secret", "ConfigMap"})
_PAYLOAD_KEYS = frozenset({"data", "stringData", "binaryData"})


def _confidential(obj: KObject, path: Path) -> bool:
    data = obj.data
    if "sops" in data:
        return True
    return (str(data.get("kind", "")) in _PAYLOAD_KINDS and bool(path)
            and path[0] in _PAYLOAD_KEYS)


def _unquoted(error: Any) -> str:
    """jsonschema's message without the instance it quotes: what was found and what is wanted."""
    found = type(error.instance).__name__
    found = {"dict": "a mapping", "list": "a list", "str": "a string", "int": "a number",
             "float": "a number", "bool": "a boolean", "NoneType": "null"}.get(found, found)
    if error.validator == "type":
        want = error.validator_value
        want = want if isinstance(want, str) else " or ".join(w for w in want if w != "null")
        return f"{found} is not of type {want} (value not shown)"
    return f"{found} fails the schema's {error.validator!r} check (value not shown)"


def check_objects(objects: Iterable[KObject], store: SchemaStore, *,
                  strict: bool) -> Iterator[Finding | Skipped]:
    """Check every object; findings and skips are yielded per object in document order.

    Many objects are repeats: a base built into every cluster, a file object and its built
    copy. Content that already passed every check (per store, so per run) is not checked
    again; content with findings is, since each copy is reported at its own place.
    """
    texts: dict[int, str] = {}  # repr by identity: clusters of one environment share data
    for obj in objects:
        try:
            text = texts.get(id(obj.data))
            if text is None:
                text = texts[id(obj.data)] = repr(obj.data)
            key = (obj.api_version, str(obj.data.get("kind", "")), text)
        except RecursionError:
            key = None
        if key is not None and store.known_clean(key):
            store.counts["repeat"] += 1
            continue
        results = list(check_object(obj, store, strict=strict))
        if not results and key is not None:
            store.remember_clean(key)
        yield from results


def check_object(obj: KObject, store: SchemaStore, *, strict: bool) -> Iterator[Finding | Skipped]:
    api_version, kind = obj.api_version, str(obj.data.get("kind", ""))
    if api_version.startswith(KUSTOMIZE_CONFIG):
        return  # a kustomization.yaml is kustomize's input, never applied to the cluster
    info = store.info(api_version, kind)
    if info is not None and not info.served:
        target = f"; use {info.use}" if info.use else ""
        gone = f" (removed in {info.removed_in})" if info.removed_in else ""
        pinned = store.flux_version
        if still_served(info.removed_in, pinned):
            yield UNSERVED_VERSION.at(
                obj, ("apiVersion",),
                f"{api_version} {kind} is removed in {info.removed_in}; this fleet pins Flux "
                f"{pinned} ({pinned.where}), which still serves it: migrate before "
                f"upgrading{target}",
                hint=f"run `flux migrate -f {obj.source_file or obj.document.file}` before the "
                     "Flux upgrade", severity=Severity.WARNING)
            return
        yield UNSERVED_VERSION.at(
            obj, ("apiVersion",),
            f"{api_version} {kind} is no longer served{gone}{target}",
            hint=f"run `flux migrate -f {obj.source_file or obj.document.file}` to rewrite it"
                 + (f" to {info.use}" if info.use else ""))
        return
    if not store.has_schema(api_version, kind):
        if flux_operator.is_operator_kind(api_version, kind):
            yield _skip(obj, (), "schema", flux_operator.SKIP_REASON)
            return
        if strict or store.covers_group(api_version):
            yield UNKNOWN_KIND.at(obj, ("kind",), f"no schema for {api_version} {kind}",
                                  hint=_unknown_hint(store, api_version, kind))
        else:
            yield _skip(obj, (), "schema", f"no schema for {api_version} {kind}")
        return
    seen_required: set[Path] = set()
    store.counts["checked"] += 1
    fast = store.fast_check(api_version, kind)
    try:
        if fast is not None and fast(obj.data):
            store.counts["fast"] += 1
            errors = []
        else:  # invalid (or no fast path): jsonschema says where and why, nulls pruned
            store.counts["located"] += 1
            errors = list(store.validator(api_version, kind).iter_errors(
                without_nulls(obj.data)))
    except RecursionError:
        yield _skip(obj, (), "schema", "too deeply nested to validate")
        return
    extra = store.enum_extensions.get(kind)
    if extra:
        errors = [e for e in errors if not (e.validator == "enum" and e.instance in extra)]
    for error in errors:
        yield from _from_error(obj, error, kind, seen_required)
    yield from _check_cel(obj, store, api_version, kind)


def without_nulls(value: Any) -> Any:
    """The object as the API server validates it: a field set to null is absent.

    For custom resources the apiextensions server prunes nulls of fields that are not
    ``nullable`` before validation ("Defaulting and Nullable" in the CRD docs); for built-in
    kinds, decoding null into a Go field leaves it unset. So an empty ``postBuild:`` is
    accepted, and a null where a value is *required* still fails, as required. A field the
    schema marks nullable accepts null and absence alike, so pruning every null is the same
    verdict. List items are not fields: a null item stays and is judged. Returns ``value``
    itself when there is nothing to prune (no copy on the common path)."""
    if isinstance(value, dict):
        pruned = {k: without_nulls(v) for k, v in value.items() if v is not None}
        if len(pruned) == len(value) and all(pruned[k] is value[k] for k in pruned):
            return value
        return pruned
    if isinstance(value, list):
        items = [without_nulls(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


#: What the Flux Operator adds to the Alert and Receiver CRDs it installs: its own kinds as
#: event sources / receiver resources (flux-operator's builder patches those enums).
OPERATOR_KINDS = frozenset({"FluxInstance", "ResourceSet", "ResourceSetInputProvider"})
_OPERATOR_CHARTS = ("flux-operator", "flux-instance")


def installed_by_operator(documents: Iterable[Any]) -> bool:
    """Does this fleet run Flux through the Flux Operator (a FluxInstance, or its charts)?"""
    for doc in documents:
        data = doc.data
        if not isinstance(data, dict):
            continue
        if str(data.get("apiVersion", "")).startswith("fluxcd.controlplane.io/"):
            return True
        chart = data.get("spec", {}).get("chart") if isinstance(data.get("spec"), dict) else None
        name = chart.get("spec", {}).get("chart") if isinstance(chart, dict) and isinstance(
            chart.get("spec"), dict) else None
        if isinstance(name, str) and any(c in name for c in _OPERATOR_CHARTS):
            return True
        ref = data.get("spec", {}).get("chartRef") if isinstance(data.get("spec"), dict) else None
        if isinstance(ref, dict) and any(c in str(ref.get("name", "")) for c in _OPERATOR_CHARTS):
            return True
    return False


def _unknown_hint(store: SchemaStore, api_version: str, kind: str) -> str:
    group = api_version.rpartition("/")[0]
    candidates = sorted({f"{k.api_version} {k.kind}" for k in store.kinds()
                         if k.served and k.api_version.rpartition("/")[0] == group})
    close = difflib.get_close_matches(f"{api_version} {kind}", candidates, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}?"
    return UNKNOWN_KIND.fix


def _from_error(obj: KObject, error: Any, kind: str,
                seen_required: set[Path]) -> Iterator[Finding | Skipped]:
    path: Path = tuple(error.absolute_path)
    keyword = error.validator
    if keyword == "required":
        # jsonschema reports one error per missing key; report them once, one finding each.
        if path in seen_required:
            return
        seen_required.add(path)
        yield from _missing_fields(obj, error, path)
        return
    secret = _confidential(obj, path)
    if keyword in _VALUE_KEYWORDS and _placeholder(error.instance):
        shown = "the value" if secret else repr(error.instance)
        yield _skip(obj, path, "substitution",
                    f"{dotted(path)}: {shown} is a ${{VAR}} placeholder resolved at "
                    "apply time (postBuild substitution)")
        return
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        yield from _unknown_fields(obj, error, path, kind)
        return
    message = _unquoted(error) if secret else error.message
    yield SCHEMA_VIOLATION.at(obj, path, f"{_where(path)}{message}",
                              hint=_violation_hint(error))


def _missing_fields(obj: KObject, error: Any, path: Path) -> Iterator[Finding]:
    have = error.instance if isinstance(error.instance, dict) else {}
    for key in error.validator_value:
        if key in have:
            continue
        if (path, key) in (((), "metadata"), (("metadata",), "name")):
            yield MISSING_NAME.at(obj, path, "metadata.name is required")
        else:
            yield SCHEMA_VIOLATION.at(obj, path, f"{dotted((*path, key))} is required",
                                      hint=f"add {dotted((*path, key))}")


def _unknown_fields(obj: KObject, error: Any, path: Path, kind: str) -> Iterator[Finding | Skipped]:
    known = sorted(error.schema.get("properties") or {})
    for key in error.instance:
        if key in known:
            continue
        if _placeholder(key):
            yield _skip(obj, (*path, key), "substitution",
                        f"{dotted((*path, key))}: a ${{VAR}} key is resolved at apply time")
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = (f"did you mean '{close[0]}'?" if close else
                f"remove it; {kind} {dotted(path) or 'top level'} accepts: "
                + ", ".join(known[:20]) + (" ..." if len(known) > 20 else ""))
        yield SCHEMA_VIOLATION.at(obj, (*path, key), f"{dotted((*path, key))}: unknown field "
                                  f"{key!r}", hint=hint)


def _violation_hint(error: Any) -> str:
    keyword = error.validator
    if keyword == "enum":
        return "use one of: " + ", ".join(map(str, error.validator_value))
    if keyword == "pattern":
        return f"the value must match {error.validator_value}"
    if keyword == "required":
        return "add the missing field"
    if keyword == "type":
        want = error.validator_value
        want = want if isinstance(want, str) else " or ".join(w for w in want if w != "null")
        return f"the value must be a {want}" + (
            "; quote it if you meant a string" if want == "string" else "")
    return SCHEMA_VIOLATION.fix


def _check_cel(obj: KObject, store: SchemaStore, api_version: str,
               kind: str) -> Iterator[Finding | Skipped]:
    for rule in store.cel_rules(api_version, kind):
        if rule.is_transition:
            continue  # evaluated by the API server on update only
        for path, node in nodes_at(obj.data, rule.where):
            try:
                holds = store.cel.holds(rule.rule, node)
            except CelError as exc:
                yield _skip(obj, path, "cel", f"{dotted(path)}: rule {rule.rule!r} could not "
                            f"be evaluated: {exc}")
                continue
            if holds:
                continue
            if _has_placeholder(node):
                yield _skip(obj, path, "substitution",
                            f"{dotted(path)}: rule {rule.message!r} depends on ${{VAR}} values "
                            "resolved at apply time")
                continue
            yield CEL_VIOLATION.at(obj, path, f"{dotted(path)}: {rule.message}",
                                   hint=f"the CRD rule `{rule.rule}` must hold")

