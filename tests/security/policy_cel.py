"""An offline evaluator for native ValidatingAdmissionPolicies (test support).

The rendered fleet guards tenant namespaces with ValidatingAdmissionPolicies; the security
tests need to show that those policies deny each escape and admit the clean object, without a
cluster. This module does what the API server's admission plugin does for one CREATE request:
a binding applies when its policy's matchConstraints and its own matchResources match the
object (resource rules, namespaceSelector on the namespace's labels, objectSelector), the
policy's matchConditions all hold; then each validation is evaluated with ``object``,
``oldObject``, ``request``, ``params``, ``namespaceObject`` and ``variables`` bound, and a false
result (or an error under failurePolicy Fail) is a denial when the binding's validationActions
include Deny. CEL is evaluated with cel-python plus the Kubernetes ``join`` (lists) and ``split``
(strings) extensions, over plain JSON maps as the API server does: it hands CEL the unstructured
object, unescaped (k8s.io/apiserver admission/plugin/cel, ``objectToResolveVal``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import yaml

ADMISSION_GROUP = "admissionregistration.k8s.io"
#: kinds that live outside namespaces (enough for the objects a fleet carries)
CLUSTER_SCOPED = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "PersistentVolume",
    "StorageClass", "PriorityClass", "APIService",
})


@dataclass(frozen=True)
class Verdict:
    """One validation of one binding that did not pass for an object."""

    policy: str
    binding: str
    expression: str
    message: str
    actions: tuple[str, ...]

    @property
    def denies(self) -> bool:
        return "Deny" in self.actions


def _join(items: Any, sep: Any = "") -> celpy.celtypes.StringType:
    """Kubernetes' CEL list library: ``['a', 'b'].join(', ')``."""
    return celpy.celtypes.StringType(str(sep).join(str(x) for x in items))


def _split(text: Any, sep: Any) -> celpy.celtypes.ListType:
    """Kubernetes' CEL strings library (cel-go ext.Strings): ``'a,b'.split(',')``."""
    return celpy.celtypes.ListType(celpy.celtypes.StringType(x) for x in str(text).split(str(sep)))


def plural(kind: str) -> str:
    """The resource name of a kind, as the API server names it (gitrepositories, ...)."""
    low = kind.lower()
    if low == "endpoints":  # already plural
        return low
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    if low.endswith(("s", "x", "ch", "sh")):
        return low + "es"
    return low + "s"


def _gv(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """A metav1.LabelSelector; an absent or empty selector selects everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(op, False)
        if not ok:
            return False
    return True


def _rule_matches(rule: Mapping[str, Any], group: str, version: str, resource: str,
                  operation: str, namespaced: bool) -> bool:
    def has(key: str, value: str) -> bool:
        allowed = rule.get(key) or []
        return "*" in allowed or value in allowed

    scope = rule.get("scope", "*")
    if (scope == "Namespaced" and not namespaced) or (scope == "Cluster" and namespaced):
        return False
    return (has("apiGroups", group) and has("apiVersions", version)
            and has("operations", operation) and has("resources", resource))


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    meta = (obj or {}).get("metadata") or {}
    return meta.get("labels") or {}


class PolicySet:
    """The ValidatingAdmissionPolicies and bindings of a fleet, compiled once."""

    def __init__(self, documents: Iterable[Mapping[str, Any]]) -> None:
        self.policies: dict[str, Mapping[str, Any]] = {}
        self.bindings: list[Mapping[str, Any]] = []
        for doc in documents:
            if not isinstance(doc, Mapping) or _gv(str(doc.get("apiVersion", "")))[0] != \
                    ADMISSION_GROUP:
                continue
            name = (doc.get("metadata") or {}).get("name", "")
            if doc.get("kind") == "ValidatingAdmissionPolicy":
                self.policies[name] = doc
            elif doc.get("kind") == "ValidatingAdmissionPolicyBinding":
                self.bindings.append(doc)
        self._env = celpy.Environment()
        self._programs: dict[str, Any] = {}
        self.last_matched: list[str] = []

    @classmethod
    def from_dir(cls, directory: Path) -> PolicySet:
        """Every policy and binding in the YAML files of a folder (e.g. policies/base)."""
        docs: list[Any] = []
        for path in sorted(directory.glob("*.yaml")):
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
        return cls(docs)

    def __len__(self) -> int:
        return len(self.bindings)

    def _eval(self, expression: str, activation: Mapping[str, Any]) -> Any:
        program = self._programs.get(expression)
        if program is None:
            program = self._env.program(self._env.compile(expression),
                                        functions={"join": _join, "split": _split})
            self._programs[expression] = program
        result = program.evaluate(dict(activation))
        if isinstance(result, celpy.CELEvalError):
            raise result
        return result

    def review(self, obj: Mapping[str, Any],
               namespaces: Mapping[str, Mapping[str, Any]] | None = None,
               operation: str = "CREATE", username: str = "") -> list[Verdict]:
        """Every failed validation for a request creating ``obj`` (by ``username``, default
        kustomize-controller; a tenant's objects come as its impersonated ServiceAccount).

        ``namespaces`` maps a namespace name to its Namespace object (for the namespaceSelector
        and ``namespaceObject``); an unknown namespace has no labels.
        """
        namespaces = namespaces or {}
        kind = str(obj.get("kind", ""))
        group, version = _gv(str(obj.get("apiVersion", "")))
        meta = obj.get("metadata") or {}
        namespaced = kind not in CLUSTER_SCOPED
        ns = str(meta.get("namespace") or "") if namespaced else ""
        ns_obj = namespaces.get(ns) if ns else None
        if kind == "Namespace":
            ns_labels = _labels(obj)
        elif namespaced:
            ns_labels = _labels(ns_obj)
        else:
            ns_labels = None  # other cluster-scoped objects never skip on namespaceSelector
        resource = plural(kind)
        request = {
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "name": meta.get("name", ""), "namespace": ns, "operation": operation,
            "userInfo": {"username": username or
                         "system:serviceaccount:flux-system:kustomize-controller"},
        }
        activation: dict[str, Any] = {
            "object": celpy.json_to_cel(dict(obj)),
            "oldObject": celpy.json_to_cel(None),
            "request": celpy.json_to_cel(request),
            "params": celpy.json_to_cel(None),
            "namespaceObject": celpy.json_to_cel(dict(ns_obj) if ns_obj else None),
        }

        def matches(match: Mapping[str, Any] | None, require_rules: bool) -> bool:
            match = match or {}
            rules = match.get("resourceRules")
            if rules is None and require_rules:
                return False
            if rules is not None and not any(
                    _rule_matches(r, group, version, resource, operation, namespaced)
                    for r in rules):
                return False
            if any(_rule_matches(r, group, version, resource, operation, namespaced)
                   for r in match.get("excludeResourceRules") or []):
                return False
            if ns_labels is not None and not _selects(match.get("namespaceSelector"),
                                                      ns_labels):
                return False
            return _selects(match.get("objectSelector"), _labels(obj))

        verdicts: list[Verdict] = []
        self.last_matched = []
        for binding in self.bindings:
            bspec = binding.get("spec") or {}
            policy = self.policies.get(bspec.get("policyName", ""))
            if policy is None:
                continue
            pspec = policy.get("spec") or {}
            if not (matches(pspec.get("matchConstraints"), True)
                    and matches(bspec.get("matchResources"), False)):
                continue
            self.last_matched.append(binding["metadata"]["name"])
            verdicts.extend(self._run(policy, binding, activation))
        return verdicts

    def bindings_for(self, obj: Mapping[str, Any],
                     namespaces: Mapping[str, Mapping[str, Any]] | None = None,
                     username: str = "") -> list[str]:
        """The bindings that apply to ``obj`` (so a clean verdict is not a vacuous one)."""
        self.review(obj, namespaces, username=username)
        return list(self.last_matched)

    def _run(self, policy: Mapping[str, Any], binding: Mapping[str, Any],
             activation: dict[str, Any]) -> list[Verdict]:
        pspec, bspec = policy.get("spec") or {}, binding.get("spec") or {}
        pname = policy["metadata"]["name"]
        bname = binding["metadata"]["name"]
        actions = tuple(bspec.get("validationActions") or ())
        fail_closed = pspec.get("failurePolicy", "Fail") == "Fail"
        act = dict(activation)
        variables: dict[str, Any] = {}
        for var in pspec.get("variables") or []:
            act["variables"] = celpy.celtypes.MapType(variables)
            try:
                variables[celpy.celtypes.StringType(var["name"])] = self._eval(
                    var["expression"], act)
            except Exception:  # celpy raises unrelated types
                continue
        act["variables"] = celpy.celtypes.MapType(variables)
        for cond in pspec.get("matchConditions") or []:
            try:
                if not bool(self._eval(cond["expression"], act)):
                    return []
            except Exception as exc:  # celpy raises unrelated types
                return [Verdict(pname, bname, cond["expression"],
                                f"matchCondition error: {exc}", actions)] if fail_closed else []
        out: list[Verdict] = []
        for check in pspec.get("validations") or []:
            expression = check["expression"]
            try:
                ok = bool(self._eval(expression, act))
            except Exception as exc:  # celpy raises unrelated types
                if fail_closed:
                    out.append(Verdict(pname, bname, expression, f"error: {exc}", actions))
                continue
            if ok:
                continue
            message = check.get("message") or f"failed expression: {expression}"
            if check.get("messageExpression"):
                with contextlib.suppress(Exception):  # the static message stands
                    message = str(self._eval(check["messageExpression"], act))
            out.append(Verdict(pname, bname, expression, message, actions))
        return out

    def denials(self, obj: Mapping[str, Any],
                namespaces: Mapping[str, Mapping[str, Any]] | None = None,
                username: str = "") -> list[Verdict]:
        """The verdicts that make the API server refuse ``obj``."""
        return [v for v in self.review(obj, namespaces, username=username) if v.denies]
