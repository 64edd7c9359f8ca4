"""Layer 2 of issue 10: `flux-fleet validate` catches each isolation vector statically.

One small fixture per vector: the default rendered fleet or tenant repo (rendered once per
session, conftest) plus an overlay that opens the hole; the rule must fire at the file and line
that opens it, and the fixed variant must add nothing to what the default repo reports.
docs/security.md ("Layer 2: what validate catches") lists the same vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import kustomize_available

from .conftest import Overlay, Report, apply_overlay, line_of, validate
from .vectors import RBAC, SYNC, tenant_file

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="kustomize/kubectl not on PATH")

TAIL = "    name: gotk:dev-team:reconciler\n"
LOCK = "clusters/production/flux-system/kustomization.yaml"


@dataclass(frozen=True)
class Case:
    id: str
    repo: str  # platform | tenant | operator
    bad: Overlay
    rule: str
    file: str
    at: str  # text whose (first) line is the finding's line
    good: Overlay = field(default_factory=dict)
    after: str = ""
    severity: str = ""  # expected severity when it matters
    args: tuple[str, ...] = ()


def platform_rbac(extra: str) -> Overlay:
    """The platform's tenant rbac.yaml with more documents after the tenant's RoleBinding."""
    return {RBAC: (TAIL, TAIL + extra)}


def binding(kind: str, ns: str, role: str, subject: str, name: str = "extra") -> str:
    meta = f"  namespace: {ns}\n" if ns else ""
    return (f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata:\n"
            f"  name: {name}\n{meta}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n"
            f"  kind: ClusterRole\n  name: {role}\nsubjects:\n{subject}")


def group(name: str) -> str:
    return f"  - apiGroup: rbac.authorization.k8s.io\n    kind: Group\n    name: {name}\n"


def user(name: str) -> str:
    return f"  - apiGroup: rbac.authorization.k8s.io\n    kind: User\n    name: {name}\n"


SA_FLUX = "  - kind: ServiceAccount\n    name: flux\n    namespace: dev-team\n"
TENANT_ADMIN = binding("RoleBinding", "", "admin", "{subject}", name="share")


def tenant_binding(subject: str) -> dict[str, Any]:
    return tenant_file(TENANT_ADMIN.removeprefix("---\n").format(subject=subject))


AGGREGATED = """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widen-admin
  labels:
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
rules:
  - apiGroups: [{group}]
    resources: [{resources}]
    verbs: [get, list, {verb}]
"""


def aggregated(group: str = "example.com", resources: str = "widgets",
               verb: str = "create") -> Overlay:
    return platform_rbac(AGGREGATED.format(group=group, resources=resources, verb=verb))


ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: rbac-manager
rules:
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [roles, rolebindings]
    verbs: [{verbs}]
"""

ANSWERS = ".copier-answers.yml"
SOURCES = "policies/base/allowed-sources.yaml"
OWN_URL = "url: https://github.com/example-org/dev-team\n"


def url(new: str) -> Overlay:
    return {SYNC: (OWN_URL, f"url: {new}\n")}


EXTRA_SOURCE = """\
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: {kind}
metadata:
  name: extra
  namespace: dev-team
spec:
  interval: 1h
{spec}"""


def extra_source(kind: str, spec: str) -> Overlay:
    return {SYNC: ("  ref:\n    branch: main\n", "  ref:\n    branch: main\n"
                   + EXTRA_SOURCE.format(kind=kind, spec=spec))}


OWN_PREFIX = "  allowed_source_prefixes:\n  - https://github.com/example-org/dev-team/\n"

CASES: tuple[Case, ...] = (
    # --- 1. RBAC by identity ------------------------------------------------------------------
    Case("tenant-binds-all-serviceaccounts", "tenant",
         tenant_binding(group("system:serviceaccounts")), "FF515", "base/extra.yaml",
         "name: system:serviceaccounts", good=tenant_binding(SA_FLUX)),
    Case("tenant-binds-unauthenticated", "tenant",
         tenant_binding(group("system:unauthenticated")), "FF515", "base/extra.yaml",
         "name: system:unauthenticated", good=tenant_binding(SA_FLUX)),
    Case("tenant-binds-other-namespace-sa-as-user", "tenant",
         tenant_binding(user("system:serviceaccount:ops-team:default")), "FF506",
         "base/extra.yaml", "name: system:serviceaccount:ops-team", good=tenant_binding(SA_FLUX)),
    Case("tenant-binds-system-masters", "tenant",
         tenant_binding(group("system:masters")), "FF515", "base/extra.yaml",
         "name: system:masters", good=tenant_binding(SA_FLUX)),
    Case("platform-crb-namespace-group", "platform",
         platform_rbac(binding("ClusterRoleBinding", "", "view",
                               group("system:serviceaccounts:dev-team"))),
         "FF506", RBAC, "name: system:serviceaccounts:dev-team"),
    Case("platform-crb-sa-user", "platform",
         platform_rbac(binding("ClusterRoleBinding", "", "view",
                               user("system:serviceaccount:dev-team:flux"))),
         "FF506", RBAC, "name: system:serviceaccount:dev-team:flux"),
    Case("platform-rb-in-flux-system-as-user", "platform",
         platform_rbac(binding("RoleBinding", "flux-system", "edit",
                               user("system:serviceaccount:dev-team:flux"))),
         "FF506", RBAC, "name: system:serviceaccount:dev-team:flux"),
    Case("platform-crb-authenticated", "platform",
         platform_rbac(binding("ClusterRoleBinding", "", "edit", group("system:authenticated"))),
         "FF515", RBAC, "name: system:authenticated", severity="warning"),
    Case("platform-crb-unauthenticated", "platform",
         platform_rbac(binding("ClusterRoleBinding", "", "view",
                               group("system:unauthenticated"))),
         "FF515", RBAC, "name: system:unauthenticated", severity="error"),
    Case("aggregate-to-admin-namespaced", "platform", aggregated(), "FF516", RBAC,
         "- apiGroups: [example.com]", severity="warning"),
    Case("aggregate-to-admin-nodes", "platform", aggregated('""', "nodes", "delete"), "FF516",
         RBAC, '- apiGroups: [""]', severity="error"),
    Case("aggregate-to-admin-escalate", "platform",
         aggregated("rbac.authorization.k8s.io", "roles", "escalate"), "FF516", RBAC,
         "- apiGroups: [rbac.authorization.k8s.io]", severity="error"),
    Case("tenant-role-escalate-bind", "tenant",
         tenant_file(ROLE.format(verbs="get, escalate, bind")), "FF517", "base/extra.yaml",
         "verbs: [get, escalate", good=tenant_file(ROLE.format(verbs="get, list"))),
    Case("tenant-role-star-on-rbac", "tenant", tenant_file(ROLE.format(verbs='"*"')), "FF517",
         "base/extra.yaml", 'verbs: ["*"]', good=tenant_file(ROLE.format(verbs="get, list"))),
    # --- 5. per-tenant source prefixes, normalised, every source kind --------------------------
    Case("git-url-dot-segments", "platform", url("https://github.com/example-org/../evil/x"),
         "FF510", SYNC, "url: https://github.com/example-org/../evil"),
    Case("git-url-sibling-org", "platform", url("https://github.com/example-org-evil/x"),
         "FF510", SYNC, "url: https://github.com/example-org-evil"),
    Case("git-url-encoded-dots", "platform", url("https://github.com/example-org/%2e%2e/evil/x"),
         "FF510", SYNC, "url: https://github.com/example-org/%2e%2e"),
    Case("bucket-anywhere", "platform",
         extra_source("Bucket", "  bucketName: loot\n  endpoint: minio.evil.example.com\n"),
         "FF510", SYNC, "endpoint: minio.evil", good=extra_source(
             "Bucket", "  bucketName: dev-team\n  endpoint: github.com/example-org\n")),
    Case("oci-anywhere", "platform",
         extra_source("OCIRepository", "  url: oci://ghcr.io/evil/manifests\n"),
         "FF510", SYNC, "url: oci://ghcr.io/evil"),
    Case("helm-anywhere", "platform",
         extra_source("HelmRepository", "  url: https://charts.evil.example.com\n"),
         "FF510", SYNC, "url: https://charts.evil"),
    Case("tenant-prefix-from-answers", "platform",
         {ANSWERS: ("  role: admin\n", "  role: admin\n" + OWN_PREFIX),
          **url("https://github.com/example-org/ops-team")},
         "FF510", SYNC, "url: https://github.com/example-org/ops-team",
         good={ANSWERS: ("  role: admin\n", "  role: admin\n" + OWN_PREFIX)}),
    Case("tenant-prefix-from-namespace", "platform",
         {RBAC: ("  name: dev-team\n  labels:", "  name: dev-team\n  annotations:\n"
                 "    flux-fleet.io/allowed-source-prefixes: https://github.com/example-org/dev-team/"
                 "\n  labels:"), **url("https://github.com/example-org/ops-team")},
         "FF510", SYNC, "url: https://github.com/example-org/ops-team",
         good={RBAC: ("  name: dev-team\n  labels:", "  name: dev-team\n  annotations:\n"
                      "    flux-fleet.io/allowed-source-prefixes: "
                      "https://github.com/example-org/dev-team/\n  labels:")}),
    Case("prefix-without-slash", "platform",
         {ANSWERS: ("- https://github.com/example-org/\n", "- https://github.com/example-org\n")},
         "FF518", ANSWERS, "- https://github.com/example-org\n"),
    Case("binding-audit-only", "platform",
         {SOURCES: ('validationActions: ["Deny"]', 'validationActions: ["Audit", "Warn"]')},
         "FF519", SOURCES, "validationActions:"),
    Case("policy-fails-open", "platform",
         {SOURCES: ("failurePolicy: Fail", "failurePolicy: Ignore")}, "FF519", SOURCES,
         "failurePolicy: Ignore"),
    Case("namespace-lost-tenant-label", "platform",
         {RBAC: ("  name: dev-team\n  labels:\n    toolkit.fluxcd.io/tenant: dev-team\n",
                 "  name: dev-team\n")}, "FF520", RBAC, "metadata:\n  name: dev-team"),
)

_reports: dict[tuple[str, str, tuple[str, ...]], Report] = {}


@pytest.fixture(scope="module")
def bases(default_fleet: Path, default_tenant: Path,
          default_operator_fleet: Path) -> dict[str, Path]:
    return {"platform": default_fleet, "tenant": default_tenant,
            "operator": default_operator_fleet}


def report(bases: dict[str, Path], tmp: pytest.TempPathFactory, case: Case,
           overlay: Overlay) -> tuple[Path, Report]:
    """Validate one fixture repository (each distinct overlay once per module)."""
    key = (case.repo, repr(sorted(overlay.items())), case.args)
    dest = tmp.mktemp(case.id) / case.repo
    apply_overlay(bases[case.repo], dest, overlay)
    if key not in _reports:
        tenant = ("--tenant",) if case.repo == "tenant" else ()
        _reports[key] = validate(dest, *tenant, *case.args)
    return dest, _reports[key]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vector_is_caught_at_its_line(case: Case, bases: dict[str, Path],
                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    repo, bad = report(bases, tmp_path_factory, case, case.bad)
    line = line_of(repo / case.file, case.at, case.after)
    hits = [f for f in bad.findings
            if f["rule"] == case.rule and f["file"] == case.file and f["line"] == line]
    assert hits, (case.rule, case.file, line, bad.findings)
    if case.severity:
        assert hits[0]["severity"] == case.severity, hits[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixed_variant_adds_nothing(case: Case, bases: dict[str, Path],
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    _, default = report(bases, tmp_path_factory, case, {})
    _, good = report(bases, tmp_path_factory, case, case.good)
    baseline = {(f["rule"], f["message"]) for f in default.findings}
    extra = [f for f in good.findings if (f["rule"], f["message"]) not in baseline]
    assert not extra, extra
