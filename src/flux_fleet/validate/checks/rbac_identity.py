"""RBAC by identity (FF506, FF507, FF515-FF517): what a binding grants, in any subject form.

Kubernetes RBAC ("Using RBAC Authorization", section "Referring to subjects") names the same
identity several ways: a ServiceAccount subject, the User ``system:serviceaccount:<ns>:<sa>``,
the Groups ``system:serviceaccounts:<ns>`` (every SA of a namespace) and
``system:serviceaccounts`` (every SA of the cluster), ``system:authenticated`` (everyone with a
credential, every tenant included), ``system:unauthenticated`` / User ``system:anonymous``
(anyone who reaches the API server). A check that looks only at ``kind: ServiceAccount`` misses
all but the first. Aggregated ClusterRoles (labels ``rbac.authorization.k8s.io/aggregate-to-*``)
add their rules to the built-in admin/edit/view that tenants are bound to, and the verbs
``escalate``, ``bind`` and ``impersonate`` are the holes the RBAC "privilege escalation
prevention" section names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flux_fleet import flux
from flux_fleet.model import Finding, KObject, Severity
from flux_fleet.validate.checks.tenancy_context import RBAC, Tenancy
from flux_fleet.validate.rules import Rule

TENANT_BINDING = Rule(
    code="FF506",
    name="tenant-sa-bound-outside",
    severity=Severity.ERROR,
    summary="A tenant ServiceAccount is bound cluster-wide or in another tenant's namespace",
    why=(
        "A ClusterRoleBinding gives the tenant's reconciler rights in every namespace; a "
        "RoleBinding in someone else's namespace lets it write there. Tenants are bound only by "
        "RoleBindings in their own namespaces. The identity counts whatever form the subject "
        "takes: kind ServiceAccount, User system:serviceaccount:<ns>:<sa>, or Group "
        "system:serviceaccounts:<ns>."
    ),
    fix="Replace it with a RoleBinding in the tenant's own namespace.",
    bad=(
        "kind: ClusterRoleBinding\nsubjects:\n  - kind: ServiceAccount\n    name: flux\n"
        "    namespace: dev-team\n"
    ),
    good=(
        "kind: RoleBinding\nmetadata:\n  namespace: dev-team\nsubjects:\n  - kind: "
        "ServiceAccount\n    name: flux\n    namespace: dev-team\n"
    ),
)
CLUSTER_ADMIN = Rule(
    code="FF507",
    name="cluster-admin-binding",
    severity=Severity.WARNING,
    summary="A RoleBinding or ClusterRoleBinding grants cluster-admin",
    why=(
        "cluster-admin in a RoleBinding still grants every verb on every namespaced resource, "
        "including RoleBindings (so the tenant can widen its own rights). The platform may opt in "
        "explicitly, so this is a warning; in a tenant repository it is an error."
    ),
    fix="Bind the namespace-scoped 'admin' ClusterRole (or a narrower Role) instead.",
    bad=(
        "roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: "
        "cluster-admin\n"
    ),
    good="roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: admin\n",
)
BROAD_SUBJECT = Rule(
    code="FF515",
    name="binding-to-broad-group",
    severity=Severity.ERROR,
    summary=(
        "A binding grants a role to every ServiceAccount, every authenticated user or anonymous "
        "users (or a tenant repo binds an identity that is not the tenant's)"
    ),
    why=(
        "system:serviceaccounts, system:authenticated and system:unauthenticated/"
        "system:anonymous hold every tenant's identities (the last: anyone who reaches the API "
        "server). A tenant that binds its admin to them hands its namespace to everyone; a "
        "platform ClusterRoleBinding to them gives every tenant the role cluster-wide. A tenant "
        "repository may bind only its own ServiceAccounts and non-system users and groups. "
        "A deliberate platform grant (e.g. view for system:authenticated) is a warning: accept it "
        "with an inline 'flux-fleet: ignore FF515' comment on the subject."
    ),
    fix="Bind the tenant's own ServiceAccount (or a named user/group) instead of the group.",
    bad=(
        "kind: RoleBinding\nmetadata:\n  namespace: dev-team\nroleRef:\n  kind: ClusterRole\n"
        "  name: admin\nsubjects:\n  - kind: Group\n    name: system:serviceaccounts\n"
    ),
    good=(
        "kind: RoleBinding\nmetadata:\n  namespace: dev-team\nroleRef:\n  kind: ClusterRole\n"
        "  name: admin\nsubjects:\n  - kind: ServiceAccount\n    name: flux\n"
        "    namespace: dev-team\n"
    ),
)
AGGREGATED_ROLE = Rule(
    code="FF516",
    name="aggregated-cluster-role",
    severity=Severity.WARNING,
    summary="A ClusterRole aggregates into admin/edit/view, widening every tenant's role",
    why=(
        "The controller manager copies the rules of every ClusterRole labelled "
        "rbac.authorization.k8s.io/aggregate-to-admin|edit|view: \"true\" into the built-in "
        "role, so every tenant bound to admin gains them in its namespaces. Namespaced read/"
        "write of a CRD is the intended use (a warning that names the rule added); cluster-scoped "
        "resources, '*' or the escalate/bind/impersonate verbs are an error. A ClusterRole with "
        "an aggregationRule that tenants are bound to takes whatever rules match its selectors."
    ),
    fix=(
        "Keep aggregated rules to namespaced resources of your CRDs without escalate/bind/"
        "impersonate; accept a deliberate one with 'flux-fleet: ignore FF516'."
    ),
    bad=(
        "kind: ClusterRole\nmetadata:\n  labels:\n    rbac.authorization.k8s.io/aggregate-to-"
        "admin: \"true\"\nrules:\n  - apiGroups: [\"\"]\n    resources: [nodes]\n"
        "    verbs: [\"*\"]\n"
    ),
    good=(
        "kind: ClusterRole\nmetadata:\n  labels:\n    rbac.authorization.k8s.io/aggregate-to-"
        "admin: \"true\"\nrules:\n  - apiGroups: [example.com]\n    resources: [widgets]\n"
        "    verbs: [get, list, create]\n"
    ),
)
ESCALATING_ROLE = Rule(
    code="FF517",
    name="tenant-role-escalates",
    severity=Severity.ERROR,
    summary="A tenant role grants escalate, bind, impersonate or '*' on RBAC",
    why=(
        "RBAC privilege escalation prevention stops a user from granting rights it lacks, except "
        "to holders of escalate (edit roles beyond their own rights), bind (bind roles they do "
        "not hold) and impersonate (act as another user, group or ServiceAccount). A tenant role "
        "with them, or with '*' on rbac.authorization.k8s.io, reaches any right the cluster has."
    ),
    fix="Drop escalate/bind/impersonate and list the RBAC verbs the tenant needs explicitly.",
    bad=(
        "kind: Role\nrules:\n  - apiGroups: [rbac.authorization.k8s.io]\n"
        "    resources: [roles]\n    verbs: [escalate, bind]\n"
    ),
    good=(
        "kind: Role\nrules:\n  - apiGroups: [rbac.authorization.k8s.io]\n"
        "    resources: [roles]\n    verbs: [get, list]\n"
    ),
)

RULES: tuple[Rule, ...] = (TENANT_BINDING, CLUSTER_ADMIN)
NEW_RULES: tuple[Rule, ...] = (BROAD_SUBJECT, AGGREGATED_ROLE, ESCALATING_ROLE)

AGGREGATE_LABELS = tuple(
    f"rbac.authorization.k8s.io/aggregate-to-{r}" for r in ("admin", "edit", "view")
)
DANGEROUS_VERBS = frozenset({"escalate", "bind", "impersonate"})
#: Resources that are cluster-scoped (RBAC rules name resources, not kinds).
CLUSTER_RESOURCES = frozenset({
    "nodes", "namespaces", "persistentvolumes", "clusterroles", "clusterrolebindings",
    "customresourcedefinitions", "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations", "validatingadmissionpolicies",
    "validatingadmissionpolicybindings", "priorityclasses", "storageclasses",
    "certificatesigningrequests", "apiservices", "runtimeclasses", "csidrivers",
})


@dataclass(frozen=True)
class Identity:
    """Who a subject grants: one SA, every SA of a namespace, or a cluster-wide group."""

    kind: str  # sa | namespace-sas | all-sas | authenticated | unauthenticated | masters | other
    namespace: str = ""
    name: str = ""

    @property
    def broad(self) -> bool:
        """Holds the identities of every tenant (and more)."""
        return self.kind in ("all-sas", "authenticated", "unauthenticated")

    def describe(self) -> str:
        return {
            "sa": f"ServiceAccount {self.namespace}/{self.name}",
            "namespace-sas": f"every ServiceAccount of namespace {self.namespace}",
            "all-sas": "every ServiceAccount of the cluster (system:serviceaccounts)",
            "authenticated": "every authenticated user (system:authenticated)",
            "unauthenticated": "anonymous users (system:unauthenticated)",
            "masters": "system:masters",
        }.get(self.kind, self.name)


def identity(subject: Any, binding_ns: str) -> Identity | None:
    """The identity one RBAC subject names (None for a malformed subject)."""
    if not isinstance(subject, dict) or not isinstance(subject.get("name"), str):
        return None
    kind, name = subject.get("kind"), subject["name"]
    if kind == "ServiceAccount":
        return Identity("sa", str(subject.get("namespace") or binding_ns), name)
    if kind == "User":
        if name.startswith("system:serviceaccount:"):
            ns, _, sa = name.removeprefix("system:serviceaccount:").partition(":")
            return Identity("sa", ns, sa)
        if name in ("system:anonymous", "system:unauthenticated"):
            return Identity("unauthenticated", name=name)
    if kind == "Group":
        if name == "system:serviceaccounts":
            return Identity("all-sas", name=name)
        if name.startswith("system:serviceaccounts:"):
            return Identity("namespace-sas", name.removeprefix("system:serviceaccounts:"), name)
        if name == "system:authenticated":
            return Identity("authenticated", name=name)
        if name == "system:unauthenticated":
            return Identity("unauthenticated", name=name)
        if name == "system:masters":
            return Identity("masters", name=name)
    return Identity("other", name=str(name))


def subjects(obj: KObject) -> Iterator[tuple[int, Identity]]:
    """(index, identity) of every subject of a (Cluster)RoleBinding."""
    for i, s in enumerate(_list(obj.data.get("subjects"))):
        who = identity(s, obj.id.namespace)
        if who is not None:
            yield i, who


def sa_subjects(obj: KObject) -> Iterator[tuple[int, str, str]]:
    """(index, namespace, name) of the subjects that name one ServiceAccount, in any form."""
    for i, who in subjects(obj):
        if who.kind == "sa":
            yield i, who.namespace, who.name


def _key(obj: KObject, i: int, who: Identity, cluster_wide: bool) -> tuple[str | int, ...]:
    """The subject key to point at: its namespace when that is what is wrong, else its name."""
    subject = obj.data["subjects"][i]
    if not cluster_wide and subject.get("kind") == "ServiceAccount" and subject.get("namespace"):
        return ("subjects", i, "namespace")
    return ("subjects", i, "name")


def rbac(t: Tenancy, obj: KObject) -> Iterator[Finding]:
    """Bindings, by the identities they grant, and roles, by what they add to tenants."""
    if obj.id.group != RBAC:
        return
    if obj.id.kind in ("RoleBinding", "ClusterRoleBinding"):
        yield from _binding(t, obj)
    elif obj.id.kind == "ClusterRole":
        yield from _aggregated(t, obj)
    if (obj.id.kind == "Role" and t.is_tenant(obj)) or (
        obj.id.kind == "ClusterRole" and obj.id.name in t.tenant_cluster_roles
    ):
        yield from _escalating(obj)


def _binding(t: Tenancy, obj: KObject) -> Iterator[Finding]:
    role = obj.data.get("roleRef") if isinstance(obj.data.get("roleRef"), dict) else {}
    if role.get("kind") == "ClusterRole" and role.get("name") == "cluster-admin":
        severity = Severity.ERROR if t.tenant_repo else None
        yield CLUSTER_ADMIN.at(
            obj, ("roleRef", "name"), severity=severity, message=f"{obj.id} binds cluster-admin",
            hint=None if t.tenant_repo else (
                "bind 'admin' or a narrower role; a deliberate platform grant: accept it with "
                "'# flux-fleet: ignore FF507' on the roleRef"),
        )
    cluster_wide = obj.id.kind == "ClusterRoleBinding"
    here = obj.id.namespace
    for i, who in subjects(obj):
        if who.broad:
            yield from _broad(t, obj, i, who, cluster_wide)
            continue
        if t.tenant_repo and who.kind in ("masters", "other") and who.name.startswith("system:"):
            yield BROAD_SUBJECT.at(obj, ("subjects", i, "name"), message=(
                f"{obj.id} binds the system identity {who.name}, which is not the tenant's"))
            continue
        if who.kind == "other" and who.name.startswith("gotk:"):
            # gotk:<ns>:reconciler is the user Flux impersonates for a namespace's objects
            # (the platform's RoleBinding names it): another namespace's is another tenant
            ns = who.name.split(":")[1] if who.name.count(":") >= 2 else ""
            own = t.settings.own_namespaces() if t.tenant_repo else ()
            if (own and ns not in own) or (here and ns != here and not own and (
                    t.tenant_repo or t.tenant_of_ns.get(here, "") != t.tenant_of_ns.get(ns, ""))):
                yield TENANT_BINDING.at(obj, ("subjects", i, "name"), message=(
                    f"{obj.id} binds {who.name}, the Flux identity of namespace {ns}, which is "
                    "not its tenant's"))
            continue
        if who.kind not in ("sa", "namespace-sas"):
            continue
        owner = t.tenant_of_ns.get(who.namespace, "")
        if not owner and not t.tenant_repo:
            continue
        if cluster_wide:
            yield TENANT_BINDING.at(obj, _key(obj, i, who, cluster_wide), message=(
                f"{obj.id} binds tenant {who.describe()} cluster-wide"))
        elif here and who.namespace != here:
            here_owner = t.tenant_of_ns.get(here, "")
            if t.tenant_repo or here_owner != owner:
                yield TENANT_BINDING.at(obj, _key(obj, i, who, cluster_wide), message=(
                    f"{obj.id} binds {who.describe()} in namespace {here}, which is not its "
                    "tenant's"))
        elif t.tenant_repo and t.settings.own_namespaces() and (
                who.namespace not in t.settings.own_namespaces()):
            yield TENANT_BINDING.at(obj, _key(obj, i, who, cluster_wide), message=(
                f"{obj.id} binds {who.describe()}, outside the tenant's namespaces"))


def _broad(t: Tenancy, obj: KObject, i: int, who: Identity, cluster_wide: bool) -> Iterator[
        Finding]:
    where = ("subjects", i, "name")
    scope = "cluster-wide" if cluster_wide else f"in namespace {obj.id.namespace}"
    if t.tenant_repo or t.is_tenant(obj):
        yield BROAD_SUBJECT.at(obj, where, message=(
            f"{obj.id} grants its role {scope} to {who.describe()}, not only the tenant's own "
            "identities"))
    elif who.kind == "unauthenticated":
        yield BROAD_SUBJECT.at(obj, where, message=(
            f"{obj.id} grants its role {scope} to {who.describe()}"))
    elif cluster_wide or obj.id.namespace == t.settings.platform_namespace:
        yield BROAD_SUBJECT.at(obj, where, severity=Severity.WARNING, message=(
            f"{obj.id} grants its role {scope} to {who.describe()}, every tenant included"),
            hint="bind named identities; a deliberate grant: accept it with "
                 "'# flux-fleet: ignore FF515' on the subject")


def _aggregated(t: Tenancy, obj: KObject) -> Iterator[Finding]:
    labels = flux.labels_of(obj.data)
    into = [lab.rsplit("-", 1)[1] for lab in AGGREGATE_LABELS if str(labels.get(lab)) == "true"]
    if into:
        for i, rule in enumerate(_list(obj.data.get("rules"))):
            if not isinstance(rule, dict):
                continue
            bad = _rule_danger(rule, cluster_resources=True)
            text = _describe_rule(rule)
            yield AGGREGATED_ROLE.at(
                obj, ("rules", i), severity=Severity.ERROR if bad else None, message=(
                    f"{obj.id} aggregates into {'/'.join(into)}: every tenant bound to it gains "
                    f"{text}" + (f" ({bad})" if bad else "")))
    if isinstance(obj.data.get("aggregationRule"), dict) and (
            obj.id.name in t.tenant_cluster_roles):
        yield AGGREGATED_ROLE.at(obj, ("aggregationRule",), message=(
            f"{obj.id} is bound to tenants and takes its rules from an aggregationRule: any "
            "ClusterRole matching its selectors widens every tenant"))


def _escalating(obj: KObject) -> Iterator[Finding]:
    for i, rule in enumerate(_list(obj.data.get("rules"))):
        if isinstance(rule, dict):
            bad = _rule_danger(rule, cluster_resources=False)
            if bad:
                yield ESCALATING_ROLE.at(obj, ("rules", i, "verbs"), message=(
                    f"{obj.id} rules[{i}] grants {bad} to the tenant"))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _rule_danger(rule: dict[str, Any], *, cluster_resources: bool) -> str:
    """Why one PolicyRule reaches beyond a namespace ('' when it does not)."""
    verbs = set(_strings(rule.get("verbs")))
    groups = set(_strings(rule.get("apiGroups")))
    resources = set(_strings(rule.get("resources")))
    found = sorted(verbs & DANGEROUS_VERBS)
    if found:
        return "the verb(s) " + ", ".join(found)
    if "*" in verbs and (groups & {RBAC, "*"}):
        return "'*' on rbac.authorization.k8s.io"
    if cluster_resources:
        wide = sorted(resources & CLUSTER_RESOURCES) or (["*"] if "*" in resources else [])
        if wide:
            return "cluster-scoped resource(s) " + ", ".join(wide)
        if rule.get("nonResourceURLs"):
            return "nonResourceURLs"
    return ""


def _describe_rule(rule: dict[str, Any]) -> str:
    verbs = ",".join(_strings(rule.get("verbs"))) or "-"
    res = ",".join(_strings(rule.get("resources"))) or ",".join(
        _strings(rule.get("nonResourceURLs"))) or "-"
    groups = ",".join(g or "core" for g in _strings(rule.get("apiGroups"))) or "core"
    return f"{verbs} on {res} ({groups})"
