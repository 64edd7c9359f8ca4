"""Source prefixes and the admission backstop (FF510, FF518-FF520).

Every source kind a tenant applies fetches from outside the cluster: GitRepository,
OCIRepository and HelmRepository ``spec.url``, Bucket ``spec.endpoint`` (+ ``bucketName``). Each
is held to **that tenant's** prefixes: the ``flux-fleet.io/allowed-source-prefixes`` annotation
of its Namespace, else its entry in the answers' ``tenants``, else the fleet-wide
``allowed_source_prefixes``. URLs are compared normalised (scheme and host lower-cased, default
ports, user info, percent-escapes and dot segments resolved as RFC 3986 section 5.2.4 does) and
at a path boundary, so ``https://github.com/example-org/../evil/x`` and
``https://github.com/example-org-evil/x`` both fail ``https://github.com/example-org/``.

The rendered admission policies compare with ``startsWith``, so a prefix without its trailing
``/`` is a hole there (FF518); a binding that only audits or warns, or a policy that fails open,
does not deny (FF519); and the bindings select tenant namespaces by the
``toolkit.fluxcd.io/tenant`` label, so a tenant Namespace without it is outside every policy
(FF520).
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from flux_fleet import flux
from flux_fleet.model import Document, Finding, KObject, Severity
from flux_fleet.validate.checks.tenancy_context import Tenancy
from flux_fleet.validate.rules import Rule

PREFIX_ANNOTATION = "flux-fleet.io/allowed-source-prefixes"
ADMISSION = "admissionregistration.k8s.io"

SOURCE_URL = Rule(
    code="FF510",
    name="tenant-source-url-not-allowed",
    severity=Severity.ERROR,
    summary="A tenant source URL is outside the allowed source prefixes",
    why=(
        "The platform limits where tenants fetch code and charts from; a source elsewhere "
        "brings in unreviewed content. Every source kind counts (GitRepository, OCIRepository, "
        "HelmRepository spec.url, Bucket spec.endpoint), each against its own tenant's "
        "prefixes, compared on normalised URLs at a path boundary ('..' and "
        "'example-org-evil' do not pass 'https://github.com/example-org/')."
    ),
    fix="Use a URL under one of the allowed prefixes, or ask the platform team to allow it.",
    bad="spec:\n  url: https://evil.example.com/repo\n",
    good="spec:\n  url: https://github.com/example-org/dev-team\n",
)
PREFIX_SLASH = Rule(
    code="FF518",
    name="source-prefix-without-slash",
    severity=Severity.ERROR,
    summary="An allowed source prefix does not end with '/'",
    why=(
        "The admission policies compare URLs with startsWith: 'https://github.com/example-org' "
        "admits 'https://github.com/example-org-evil/x'. A prefix names a folder and ends with "
        "'/'."
    ),
    fix="Add the trailing '/' to the prefix.",
    bad="allowed_source_prefixes:\n  - https://github.com/example-org\n",
    good="allowed_source_prefixes:\n  - https://github.com/example-org/\n",
)
POLICY_OPEN = Rule(
    code="FF519",
    name="tenant-policy-not-enforced",
    severity=Severity.ERROR,
    summary="A tenant admission policy binding does not Deny, or the policy fails open",
    why=(
        "validationActions Audit or Warn only record a violation; failurePolicy Ignore lets "
        "the request through whenever the CEL errors (a missing field is enough). The tenant "
        "policies are the backstop for what validate cannot see (Helm charts, reconcile-time "
        "builds); they must deny (Kubernetes: 'Validating Admission Policy', validationActions "
        "and failurePolicy)."
    ),
    fix="Set validationActions: [Deny] on the binding and failurePolicy: Fail on the policy.",
    bad="spec:\n  policyName: flux-tenant-allowed-sources\n  validationActions: [Audit]\n",
    good="spec:\n  policyName: flux-tenant-allowed-sources\n  validationActions: [Deny]\n",
)
TENANT_LABEL_LOST = Rule(
    code="FF520",
    name="tenant-namespace-unlabelled",
    severity=Severity.ERROR,
    summary="A tenant Namespace lacks the toolkit.fluxcd.io/tenant label the policies select on",
    why=(
        "The tenant policy bindings match namespaces by the toolkit.fluxcd.io/tenant label; a "
        "tenant Namespace without it (or labelled for another tenant) is outside every policy, "
        "so nothing denies what the tenant applies there."
    ),
    fix="Label the Namespace toolkit.fluxcd.io/tenant: <tenant>.",
    bad="kind: Namespace\nmetadata:\n  name: dev-team\n",
    good="kind: Namespace\nmetadata:\n  name: dev-team\n  labels:\n    toolkit.fluxcd.io/tenant: "
         "dev-team\n",
)

RULES: tuple[Rule, ...] = (SOURCE_URL,)
NEW_RULES: tuple[Rule, ...] = (PREFIX_SLASH, POLICY_OPEN, TENANT_LABEL_LOST)

_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!\d+/)(.*)$")
_DEFAULT_PORTS = {"https": "443", "http": "80", "ssh": "22", "oci": "443"}


@dataclass(frozen=True)
class Url:
    """A source URL as the fetcher resolves it: scheme, host[:port], clean path segments."""

    scheme: str
    host: str
    path: tuple[str, ...]

    def under(self, prefix: Url) -> bool:
        """Same scheme and host, and the path starts with the prefix's at a '/' boundary."""
        return (self.scheme, self.host) == (prefix.scheme, prefix.host) and (
            self.path[: len(prefix.path)] == prefix.path)


@functools.lru_cache(maxsize=4096)
def parse_url(url: str) -> Url | None:
    """Normalise one URL (None when it has no host).

    scp-style ``git@host:org/repo`` is ssh; user info, the default port, a trailing ``.git`` and
    empty segments go; ``%2e`` and friends are decoded before dot segments are resolved, the
    way a server would see the path.
    """
    text = url.strip()
    if "://" in text:
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
    else:
        scp = _SCP.match(text)
        if not scp:
            return None
        scheme, rest = "ssh", f"{scp.group(1)}/{scp.group(2)}"
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    authority, _, path = rest.partition("/")
    host = authority.rsplit("@", 1)[-1].lower()
    if host.endswith(f":{_DEFAULT_PORTS.get(scheme, '-')}"):
        host = host.rsplit(":", 1)[0]
    if not host:
        return None
    clean = posixpath.normpath("/" + unquote(path).replace("\\", "/"))
    parts = tuple(p for p in clean.split("/") if p)
    if parts and parts[-1].endswith(".git"):
        parts = (*parts[:-1], parts[-1].removesuffix(".git"))
    return Url(scheme, host, parts)


def allowed(url: str, prefixes: tuple[str, ...]) -> bool:
    parsed = parse_url(url)
    if parsed is None:
        return False
    for p in prefixes:
        prefix = parse_url(p)
        if prefix is not None and parsed.under(prefix):
            return True
    return False


def source_url(obj: KObject) -> tuple[tuple[str, ...], str] | None:
    """(key path, URL) a source object fetches from, for every kind with a remote origin."""
    if obj.id.group != flux.SOURCE_GROUP:
        return None
    spec = flux.spec_of(obj.data)
    if obj.id.kind in ("GitRepository", "OCIRepository", "HelmRepository"):
        url = spec.get("url")
        return (("spec", "url"), url) if isinstance(url, str) and url else None
    if obj.id.kind == "Bucket":
        endpoint = spec.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            return None
        scheme = "http" if spec.get("insecure") is True else "https"
        base = endpoint if "://" in endpoint else f"{scheme}://{endpoint}"
        return ("spec", "endpoint"), f"{base.rstrip('/')}/{spec.get('bucketName') or ''}"
    return None


def annotated_prefixes(t: Tenancy, namespace: str) -> tuple[str, ...] | None:
    """The tenant Namespace's own prefix annotation, when the platform repo holds it."""
    ns = t.namespace_objects.get(namespace)
    if ns is None:
        return None
    meta = ns.data.get("metadata") if isinstance(ns.data.get("metadata"), dict) else {}
    notes = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    value = notes.get(PREFIX_ANNOTATION)
    if isinstance(value, str) and value.strip():
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return None


def prefixes_for(t: Tenancy, obj: KObject) -> tuple[str, ...]:
    own = annotated_prefixes(t, obj.id.namespace) if obj.id.namespace else None
    return own if own is not None else t.settings.prefixes_of(t.own_tenant(obj))


def tenant_source(t: Tenancy, obj: KObject) -> Iterator[Finding]:
    """FF510: one tenant source held to its tenant's prefixes."""
    found = source_url(obj)
    if found is None:
        return
    path, url = found
    prefixes = prefixes_for(t, obj)
    if not prefixes or flux.is_substituted(url) or allowed(url, prefixes):
        return
    whose = t.own_tenant(obj)
    yield SOURCE_URL.at(obj, path, message=(
        f"{obj.id}: {'.'.join(path)} {url} is outside the allowed prefixes"
        f"{f' of tenant {whose}' if whose else ''} ({', '.join(prefixes)})"))


# --- platform settings and admission ---------------------------------------------------------


def prefix_settings(t: Tenancy) -> Iterator[Finding]:
    """FF518 in the answers, the config file and the tenant Namespaces' annotations."""
    for doc in t.inv.documents:
        if doc.file not in (".copier-answers.yml", ".flux-fleet.yaml") or not isinstance(
                doc.data, dict):
            continue
        for key in ("allowed_source_prefixes", "allowed-source-prefixes"):
            yield from _slashes(doc, (key,), doc.data.get(key))
        tenants = doc.data.get("tenants")
        for i, tenant in enumerate(tenants if isinstance(tenants, list) else []):
            if isinstance(tenant, dict):
                yield from _slashes(doc, ("tenants", i, "allowed_source_prefixes"),
                                    tenant.get("allowed_source_prefixes"))
    for _, ns in t.view.of_kind("", "Namespace"):
        meta = ns.data.get("metadata") if isinstance(ns.data.get("metadata"), dict) else {}
        notes = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        value = notes.get(PREFIX_ANNOTATION)
        if isinstance(value, str):
            for p in (p.strip() for p in value.split(",")):
                if p and not p.endswith("/"):
                    yield PREFIX_SLASH.at(ns, ("metadata", "annotations", PREFIX_ANNOTATION),
                                          message=f"{ns.id}: allowed source prefix {p} does "
                                                  "not end with '/'", hint=f"write {p}/")


def _slashes(doc: Document, path: tuple[str | int, ...], value: Any) -> Iterator[Finding]:
    for i, p in enumerate(value if isinstance(value, list) else []):
        if isinstance(p, str) and not p.endswith("/"):
            yield PREFIX_SLASH.at(doc, (*path, i), message=(
                f"{doc.file}: allowed source prefix {p} does not end with '/' (it admits "
                f"{p}-evil/...)"), hint=f"write {p}/")


def _selects_tenants(binding: KObject) -> bool:
    selector = flux.get_path(binding.data, ("spec", "matchResources", "namespaceSelector"))
    return flux.TENANT_LABEL in repr(selector)


def admission(t: Tenancy, obj: KObject) -> Iterator[Finding]:
    """FF519: tenant policy bindings Deny, tenant policies fail closed."""
    if obj.id.group != ADMISSION:
        return
    spec = flux.spec_of(obj.data)
    if obj.id.kind == "ValidatingAdmissionPolicyBinding" and (
            _selects_tenants(obj) or str(spec.get("policyName", "")).startswith("flux-tenant-")):
        actions = spec.get("validationActions")
        if not isinstance(actions, list) or "Deny" not in actions:
            yield POLICY_OPEN.at(obj, ("spec", "validationActions"), message=(
                f"{obj.id}: validationActions {actions} does not Deny: tenants' violations "
                "are let through"))
    elif (obj.id.kind == "ValidatingAdmissionPolicy" and obj.id.name in t.tenant_policies
          and spec.get("failurePolicy") == "Ignore"):
        yield POLICY_OPEN.at(obj, ("spec", "failurePolicy"), message=(
            f"{obj.id}: failurePolicy Ignore admits the request whenever the policy errors"))


def tenant_namespaces(t: Tenancy) -> Iterator[Finding]:
    """FF520: every Namespace the answers give a tenant carries that tenant's label."""
    for _, ns in t.view.of_kind("", "Namespace"):
        owner = t.owner_by_answers.get(ns.id.name, "")
        if not owner:
            continue
        label = flux.labels_of(ns.data).get(flux.TENANT_LABEL)
        if label != owner:
            what = "has no" if label is None else f"has {label!r} as its"
            yield TENANT_LABEL_LOST.at(ns, ("metadata",), message=(
                f"{ns.id} belongs to tenant {owner} but {what} {flux.TENANT_LABEL} label: "
                "no tenant policy applies there"),
                hint=f"label it {flux.TENANT_LABEL}: {owner}")
