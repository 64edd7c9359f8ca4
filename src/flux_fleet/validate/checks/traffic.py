"""Where a tenant's objects send traffic (FF527, FF529-FF532): Services, Endpoints, Ingresses,
NetworkPolicies.

Pod Security and RBAC do not look at these, yet each redirects traffic across namespaces:

- an Ingress configuration snippet runs inside the ingress controller, with its rights to every
  Secret (CVE-2021-25742);
- a Service ``type: ExternalName`` is a CNAME the cluster DNS serves; pointed at
  ``<svc>.<other ns>.svc...`` or an IP it makes an ingress controller or a gateway proxy into
  another namespace (the confused deputy of CVE-2021-25740; CoreDNS answers CNAMEs only, an IP
  there is a kube-dns quirk: kubernetes/kubernetes#13748, coredns/coredns#2324);
- Endpoints/EndpointSlices written by hand route a Service, and every ingress controller that
  trusts it, to any pod IP or the API server (CVE-2021-25740, kubernetes/kubernetes#103675; the
  ``admin``/``edit`` roles lost that write access in Kubernetes 1.22 for it);
- ``type: LoadBalancer``/``NodePort`` and ``spec.loadBalancerIP`` open ports on every node or
  claim an address of the cloud (the tenant quota allows zero of them);
- a tenant Namespace without a NetworkPolicy admits traffic from every other tenant's pods.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from flux_fleet import flux
from flux_fleet.model import Finding, KObject, Severity
from flux_fleet.validate.checks.tenancy_context import Tenancy
from flux_fleet.validate.rules import Rule

INGRESS_SNIPPET = Rule(
    code="FF527",
    name="tenant-ingress-snippet",
    severity=Severity.ERROR,
    summary="A tenant Ingress carries a configuration snippet annotation (*-snippet)",
    why=(
        "ingress-nginx pastes server-snippet/configuration-snippet into its own configuration, "
        "which runs with the controller's rights: it reads every Secret of the cluster "
        "(CVE-2021-25742)."
    ),
    fix="Remove the -snippet annotation; ask the platform for the behaviour in the controller.",
    bad="kind: Ingress\nmetadata:\n  annotations:\n"
        "    nginx.ingress.kubernetes.io/server-snippet: 'location /x { return 200; }'\n",
    good="kind: Ingress\nmetadata:\n  annotations:\n"
         "    nginx.ingress.kubernetes.io/rewrite-target: /\n",
)
EXTERNAL_NAME = Rule(
    code="FF529",
    name="tenant-external-name-into-cluster",
    severity=Severity.ERROR,
    summary="A tenant Service of type ExternalName points into the cluster (*.svc, an IP, "
            "localhost)",
    why=(
        "The cluster DNS answers the Service's name with a CNAME to externalName; an ingress "
        "controller or gateway that proxies to it then reaches another namespace's Service, the "
        "API server (kubernetes.default.svc) or a node address on the tenant's behalf."
    ),
    fix="Point externalName at a host outside the cluster, or use a Service with a selector.",
    bad="kind: Service\nspec:\n  type: ExternalName\n  externalName: vault.ops.svc.cluster.local\n",
    good="kind: Service\nspec:\n  type: ExternalName\n  externalName: db.example.com\n",
)
MANUAL_ENDPOINTS = Rule(
    code="FF530",
    name="tenant-manual-endpoints",
    severity=Severity.ERROR,
    summary="A tenant repository writes Endpoints or EndpointSlices by hand",
    why=(
        "Hand-written endpoints route a Service, and every ingress controller or load balancer "
        "that trusts it, to any pod IP or the API server, past NetworkPolicies "
        "(CVE-2021-25740); Kubernetes removed that write access from admin/edit in 1.22."
    ),
    fix="Give the Service a selector (the endpoint controllers write its endpoints), or use an "
        "ExternalName Service for an address outside the cluster.",
    bad="kind: EndpointSlice\nendpoints:\n  - addresses: [10.244.3.17]\n",
    good="kind: Service\nspec:\n  selector:\n    app: web\n",
)
SERVICE_EXPOSURE = Rule(
    code="FF531",
    name="tenant-service-exposed-on-nodes",
    severity=Severity.ERROR,
    summary="A tenant Service is of type LoadBalancer/NodePort or sets spec.loadBalancerIP",
    why=(
        "A NodePort opens a port on every node, a LoadBalancer buys a cloud address, "
        "loadBalancerIP claims a given one (another tenant's, once released); the tenant quota "
        "allows zero, so on the cluster the apply fails."
    ),
    fix="Use type: ClusterIP and expose the Service through the platform's ingress.",
    bad="kind: Service\nspec:\n  type: LoadBalancer\n  loadBalancerIP: 203.0.113.10\n",
    good="kind: Service\nspec:\n  type: ClusterIP\n",
)
NO_NETWORK_POLICY = Rule(
    code="FF532",
    name="tenant-namespace-without-network-policy",
    severity=Severity.WARNING,
    summary="A tenant Namespace has no NetworkPolicy for its pods' ingress",
    why=(
        "Kubernetes admits all traffic to a pod that no NetworkPolicy selects: every other "
        "tenant's pods reach this tenant's Services and pods directly."
    ),
    fix=(
        "Keep the template's tenant-isolation NetworkPolicy (tenant answer network_policy: true); "
        "a deliberate choice (a CNI-wide policy): accept it with '# flux-fleet: ignore FF532' on "
        "the Namespace."
    ),
    bad="kind: Namespace\nmetadata:\n  name: dev-team\n",
    good=(
        "kind: NetworkPolicy\nmetadata:\n  name: tenant-isolation\n  namespace: dev-team\n"
        "spec:\n  podSelector: {}\n  policyTypes: [Ingress]\n"
    ),
)

RULES: tuple[Rule, ...] = (INGRESS_SNIPPET, EXTERNAL_NAME, MANUAL_ENDPOINTS, SERVICE_EXPOSURE,
                           NO_NETWORK_POLICY)

#: (pattern, why) an ExternalName target is inside the cluster; the policy
#: flux-tenant-service-routing holds the same patterns (CEL ``matches``, RE2).
CLUSTER_TARGETS: tuple[tuple[str, str], ...] = (
    (r"^[0-9]+(\.[0-9]+){3}\.?$", "an IP address"),
    (r"(^|\.)localhost\.?$", "localhost"),
    (r"(^|\.)svc(\.|$)", "a Service name of the cluster DNS (.svc)"),
    (r"\.(local|internal)\.?$", "a .local/.internal name"),
    (r"^[^.]+\.?$", "a single label, resolved through the cluster's search path"),
)


def cluster_target(name: str) -> str:
    """Why an ExternalName target is inside the cluster ('' when it is not).

    The API server only admits lowercase DNS names there (RFC 1123), so an IP literal is a
    dotted quad, and a name with a ``svc`` label is ``<svc>.<ns>.svc[.<cluster domain>]``.
    """
    for pattern, why in CLUSTER_TARGETS:
        if re.search(pattern, name.strip().lower()):
            return why
    return ""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def traffic_object(obj: KObject) -> Iterator[Finding]:
    """FF527, FF529-FF531 for one object a tenant applies."""
    key = (obj.id.group, obj.id.kind)
    if key == ("networking.k8s.io", "Ingress"):
        for name in _d(flux.get_path(obj.data, ("metadata", "annotations"))):
            if str(name).endswith("-snippet"):
                yield INGRESS_SNIPPET.at(obj, ("metadata", "annotations", name), message=(
                    f"{obj.id}: annotation {name} runs in the ingress controller with its "
                    "rights (CVE-2021-25742)"))
    elif key in (("", "Endpoints"), ("discovery.k8s.io", "EndpointSlice")):
        yield MANUAL_ENDPOINTS.at(obj, ("metadata", "name"), message=(
            f"{obj.id}: hand-written {obj.id.kind} can route traffic to any pod IP or the API "
            "server (CVE-2021-25740)"))
    elif key == ("", "Service"):
        yield from _service(obj)


def _service(obj: KObject) -> Iterator[Finding]:
    spec = _d(obj.data.get("spec"))
    kind = spec.get("type")
    if kind == "ExternalName" and isinstance(spec.get("externalName"), str):
        why = cluster_target(spec["externalName"])
        if why:
            yield EXTERNAL_NAME.at(obj, ("spec", "externalName"), message=(
                f"{obj.id}: externalName {spec['externalName']} is {why}; proxies that follow "
                "it reach into other namespaces"))
    if kind in ("LoadBalancer", "NodePort"):
        yield SERVICE_EXPOSURE.at(obj, ("spec", "type"), message=(
            f"{obj.id}: type {kind} exposes the Service outside the cluster network "
            "(tenant quota: 0)"))
    if spec.get("loadBalancerIP"):
        yield SERVICE_EXPOSURE.at(obj, ("spec", "loadBalancerIP"), message=(
            f"{obj.id}: spec.loadBalancerIP {spec['loadBalancerIP']} claims a load balancer "
            "address"))


def _isolates(policy: KObject) -> bool:
    """A NetworkPolicy that selects every pod of its namespace for ingress and does not let
    every namespace back in."""
    spec = _d(policy.data.get("spec"))
    types = spec.get("policyTypes")
    ingress = (isinstance(types, list) and "Ingress" in types) or (
        types is None)  # omitted: Ingress always applies (NetworkPolicySpec.policyTypes)
    selector = spec.get("podSelector")
    if not (ingress and isinstance(selector, dict) and not any(selector.values())):
        return False
    rules = spec.get("ingress")
    return not any(_admits_everyone(r) for r in (rules if isinstance(rules, list) else []))


def _admits_everyone(rule: Any) -> bool:
    """An ingress rule that lets any namespace's pods in (NetworkPolicyIngressRule: an empty
    or missing ``from`` matches all sources; ``namespaceSelector: {}`` every namespace; an
    ipBlock of a whole address family may cover pod IPs)."""
    peers = _d(rule).get("from")
    if not isinstance(peers, list) or not peers:
        return True
    for peer in peers:
        peer = _d(peer)
        ns = peer.get("namespaceSelector")
        if isinstance(ns, dict) and not any(ns.values()):
            return True
        if _d(peer.get("ipBlock")).get("cidr") in ("0.0.0.0/0", "::/0"):
            return True
    return False


def network_policies(t: Tenancy) -> Iterator[Finding]:
    """FF532: every platform-declared tenant Namespace has an all-pods ingress NetworkPolicy.

    Applied once the fleet declares any NetworkPolicy (the template's tenant-isolation
    policies); a tenant rendered with ``network_policy: false`` carries the ignore comment.
    """
    policies = [p for _, p in t.view.of_kind("networking.k8s.io", "NetworkPolicy")]
    if not policies:
        return  # a fleet from before the template rendered them: nothing to compare with
    covered = {p.id.namespace for p in policies if _isolates(p)}
    for _, ns in t.view.of_kind("", "Namespace"):
        if ns.id.name in t.tenant_of_ns and ns.id.name not in covered:
            yield NO_NETWORK_POLICY.at(ns, ("metadata",), message=(
                f"{ns.id} is a tenant namespace that no NetworkPolicy isolates: other tenants' "
                "pods reach its pods"))
