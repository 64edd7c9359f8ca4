"""Tenancy (FF5xx): each way a tenant escapes soft multi-tenancy is caught where it is written.

The clean fleet is a platform repo in the flux2-multi-tenancy shape (lockdown on the cluster,
two tenants with their own namespace, ServiceAccount, RoleBinding, GitRepository and
Kustomization); every vector changes one file of it, and its fix is the clean fleet again.
"""

from __future__ import annotations

import textwrap

import pytest
from test_references import SYNC, cluster, inventory, ks, line_of, run

from flux_fleet.flux import TenancySettings
from flux_fleet.model import Skipped
from flux_fleet.validate.checks import (
    lockdown_built,
    pod_security,
    rbac_identity,
    references,
    tenancy,
)
from flux_fleet.validate.checks.source_prefixes import allowed

LOCKDOWN = """
patches:
  - patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --no-cross-namespace-refs=true
    target:
      kind: Deployment
      name: "(kustomize-controller|helm-controller|notification-controller|\
image-reflector-controller|image-automation-controller)"
  - patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --no-remote-bases=true
    target:
      kind: Deployment
      name: "kustomize-controller"
  - patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --default-service-account=flux
    target:
      kind: Deployment
      name: "(kustomize-controller|helm-controller)"
"""


def tenant(name: str, sync_extra: str = "", rbac_role: str = "admin") -> dict[str, str]:
    return {
        f"tenants/base/{name}/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources: [rbac.yaml, sync.yaml]\n"
        ),
        f"tenants/base/{name}/rbac.yaml": textwrap.dedent(f"""
            apiVersion: v1
            kind: Namespace
            metadata:
              name: {name}
              labels:
                toolkit.fluxcd.io/tenant: {name}
            ---
            apiVersion: v1
            kind: ServiceAccount
            metadata:
              name: flux
              namespace: {name}
            ---
            apiVersion: rbac.authorization.k8s.io/v1
            kind: RoleBinding
            metadata:
              name: {name}-reconciler
              namespace: {name}
            roleRef:
              apiGroup: rbac.authorization.k8s.io
              kind: ClusterRole
              name: {rbac_role}
            subjects:
              - apiGroup: rbac.authorization.k8s.io
                kind: User
                name: gotk:{name}:reconciler
              - kind: ServiceAccount
                name: flux
                namespace: {name}
            """).lstrip("\n"),
        f"tenants/base/{name}/sync.yaml": textwrap.dedent(f"""
            apiVersion: source.toolkit.fluxcd.io/v1
            kind: GitRepository
            metadata:
              name: {name}
              namespace: {name}
            spec:
              interval: 1m
              url: https://github.com/example-org/{name}
              ref:
                branch: main
            ---
            """).lstrip("\n")
        + ks(
            name, "./staging", ns=name, source=name, extra="serviceAccountName: flux\n" + sync_extra
        ),
    }


def platform(**overrides: str) -> dict[str, str]:
    files = {
        **cluster("staging", LOCKDOWN),
        **cluster("production", LOCKDOWN),
        "clusters/staging/tenants.yaml": ks("tenants", "./tenants/base"),
        "clusters/production/tenants.yaml": ks("tenants", "./tenants/base"),
        "tenants/base/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources: [dev-team, ops-team]\n"
        ),
        **tenant("dev-team"),
        **tenant("ops-team"),
    }
    files.update(overrides)
    return files


def test_clean_multi_tenant_fleet_has_no_findings(tmp_path):
    files = platform()
    inv = inventory(tmp_path / "t", files)
    view = references.FleetView.of(inv)
    reconcilers = {
        str(o.id) for _, o in view.of_kind("kustomize.toolkit.fluxcd.io", "Kustomization")
    }
    assert {"Kustomization/dev-team/dev-team", "Kustomization/ops-team/ops-team"} <= reconcilers
    results = list(tenancy.check(inv, SETTINGS))
    assert [r for r in results if not isinstance(r, Skipped)] == []
    # no Namespace declares a Pod Security level: the restricted checks say they did not run
    assert [r.what for r in results if isinstance(r, Skipped)] == ["pod-security"]
    findings, _ = run(references.check, tmp_path / "r", files)
    assert findings == []


DEV_SYNC = "tenants/base/dev-team/sync.yaml"
DEV_RBAC = "tenants/base/dev-team/rbac.yaml"
STAGING_FS = "clusters/staging/flux-system/kustomization.yaml"


def _sync(extra: str = "", sa: str = "serviceAccountName: flux\n", source: str = "dev-team") -> str:
    text = tenant("dev-team")[DEV_SYNC]
    head = text.split("---", 1)[0]
    return (
        head + "---\n" + ks("dev-team", "./staging", ns="dev-team", source=source, extra=sa + extra)
    )


CLUSTER_ADMIN = tenant("dev-team", rbac_role="cluster-admin")[DEV_RBAC]
CRB = textwrap.dedent("""
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRoleBinding
    metadata:
      name: dev-team-everywhere
    roleRef:
      apiGroup: rbac.authorization.k8s.io
      kind: ClusterRole
      name: view
    subjects:
      - kind: ServiceAccount
        name: flux
        namespace: dev-team
    """)
# (rule, {file: bad text}, file of the finding, text on its line)
VECTORS = [
    (
        "FF501",
        {
            STAGING_FS: cluster(
                "staging", LOCKDOWN.replace("--no-remote-bases=true", "--no-remote-bases=false")
            )[STAGING_FS]
        },
        STAGING_FS,
        "patches:",
    ),
    ("FF501", {STAGING_FS: cluster("staging")[STAGING_FS]}, STAGING_FS, "apiVersion"),
    ("FF502", {DEV_SYNC: _sync(sa="")}, DEV_SYNC, "spec:"),
    (
        "FF503",
        {DEV_SYNC: _sync(sa="serviceAccountName: deployer\n")},
        DEV_SYNC,
        "serviceAccountName: deployer",
    ),
    (
        "FF504",
        {DEV_SYNC: _sync(sa="serviceAccountName: kustomize-controller\n")},
        DEV_SYNC,
        "serviceAccountName: kustomize-controller",
    ),
    (
        "FF505",
        {DEV_SYNC: _sync(source="dev-team\n            namespace: ops-team")},
        DEV_SYNC,
        "namespace: ops-team",
    ),
    ("FF506", {DEV_RBAC: tenant("dev-team")[DEV_RBAC] + CRB}, DEV_RBAC, "name: flux"),
    ("FF507", {DEV_RBAC: CLUSTER_ADMIN}, DEV_RBAC, "name: cluster-admin"),
    (
        "FF509",
        {DEV_SYNC: _sync("kubeConfig:\n  secretRef:\n    name: prod\n")},
        DEV_SYNC,
        "kubeConfig:",
    ),
    (
        "FF510",
        {
            DEV_SYNC: tenant("dev-team")[DEV_SYNC].replace(
                "github.com/example-org/dev-team", "evil.example.com/dev-team"
            )
        },
        DEV_SYNC,
        "url: https://evil",
    ),
    (
        "FF511",
        {DEV_SYNC: _sync("targetNamespace: ops-team\n")},
        DEV_SYNC,
        "targetNamespace: ops-team",
    ),
    (
        "FF513",
        {DEV_SYNC: _sync().replace("path: ./staging", "path: ../platform")},
        DEV_SYNC,
        "path: ../platform",
    ),
    (
        "FF514",
        {DEV_SYNC: _sync("decryption:\n  provider: sops\n  secretRef:\n    name: sops-age\n")},
        DEV_SYNC,
        "name: sops-age",
    ),
]
SETTINGS = TenancySettings(
    allowed_source_prefixes=("https://github.com/example-org/",), default_service_account="flux"
)


@pytest.mark.parametrize(
    ("rule", "bad", "file", "needle"), VECTORS, ids=[f"{v[0]}-{i}" for i, v in enumerate(VECTORS)]
)
def test_each_escape_vector_is_caught_at_its_key(tmp_path, rule, bad, file, needle):
    findings, _ = run(tenancy.check, tmp_path / "bad", platform(**bad), SETTINGS)
    hits = [f for f in findings if f.rule == rule]
    assert hits, findings
    assert hits[0].file == file
    lines = (tmp_path / "bad" / file).read_text().splitlines()
    assert needle.strip() in lines[hits[0].line - 1], (hits[0], lines[hits[0].line - 1])
    findings, _ = run(tenancy.check, tmp_path / "good", platform(), SETTINGS)
    assert [f for f in findings if f.rule == rule] == []


def test_cluster_admin_is_a_warning_on_the_platform(tmp_path):
    findings, _ = run(tenancy.check, tmp_path, platform(**{DEV_RBAC: CLUSTER_ADMIN}))
    assert [(f.rule, f.severity.value) for f in findings] == [("FF507", "warning")]


TENANT_REPO_OK = {
    "base/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    "resources: [app.yaml]\n",
    "base/app.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: app
        data:
          a: b
        """,
    "staging/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n"
    "kind: Kustomization\n"
    "resources: [../base]\n",
}
TENANT_SETTINGS = TenancySettings(
    tenant_repo=True,
    tenant_name="dev-team",
    tenant_namespaces={"dev-team": ("dev-team",), "ops-team": ("ops-team",)},
)


@pytest.mark.parametrize(
    ("rule", "bad", "file", "needle"),
    [
        (
            "FF508",
            {"base/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: mine\n"},
            "base/ns.yaml",
            "kind: Namespace",
        ),
        (
            "FF512",
            {
                "staging/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                "kind: Kustomization\nresources:\n  - ../base\n  - "
                "https://github.com/x/y//deploy?ref=main\n"
            },
            "staging/kustomization.yaml",
            "https://github.com/x/y",
        ),
        (
            "FF504",
            {
                "base/app.yaml": TENANT_REPO_OK["base/app.yaml"].replace(
                    "name: app\n", "name: app\n          namespace: ops-team\n"
                )
            },
            "base/app.yaml",
            "namespace: ops-team",
        ),
    ],
)
def test_tenant_repo_vectors(tmp_path, rule, bad, file, needle):
    findings, _ = run(
        tenancy.check,
        tmp_path / "bad",
        {**TENANT_REPO_OK, **bad},
        TENANT_SETTINGS,
        tenant_repo=True,
    )
    hits = [f for f in findings if f.rule == rule]
    assert hits, findings
    assert (hits[0].file, hits[0].line) == (file, line_of(tmp_path / "bad", file, needle))
    findings, _ = run(
        tenancy.check, tmp_path / "good", TENANT_REPO_OK, TENANT_SETTINGS, tenant_repo=True
    )
    assert findings == []


def test_single_tenant_fleet_is_skipped_as_a_whole(tmp_path):
    files = {**cluster("staging"), "clusters/staging/apps.yaml": ks("apps", "./apps", ns="default")}
    files["apps/cm.yaml"] = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\n"
    )
    findings, skipped = run(tenancy.check, tmp_path, files)
    assert findings == []
    assert [s.what for s in skipped] == ["tenancy"]


def test_settings_from_answers():
    s = TenancySettings.from_answers(
        {
            "repo_kind": "tenant",
            "tenant_name": "dev-team",
            "tenants": [{"name": "dev-team", "namespaces": ["dev-team", "dev-2"]}],
            "allowed_source_prefixes": ["https://github.com/o/"],
        }
    )
    assert s.tenant_repo and s.own_namespaces() == ("dev-team", "dev-2")
    assert (
        s.allowed_source_prefixes == ("https://github.com/o/",)
        and s.default_service_account == "flux"
    )
    assert SYNC  # the shared cluster fixture is the one test_references uses


def test_every_rule_has_docs_text():
    for rule in tenancy.RULES:
        assert rule.code.startswith("FF5") and rule.why and rule.fix and rule.bad and rule.good


# --- layer 2 (issue 10): the pure parts of the isolation checks -------------------------------

ORG = ("https://github.com/example-org/", "ssh://git@github.com/example-org/")


@pytest.mark.parametrize(("url", "ok"), [
    ("https://github.com/example-org/dev-team", True),
    ("https://GitHub.com:443/example-org/dev-team.git", True),
    ("git@github.com:example-org/dev-team.git", True),  # scp form is ssh
    ("https://github.com/example-org", True),  # the folder itself
    ("https://github.com/example-org/../evil/x", False),
    ("https://github.com/example-org/%2e%2e/evil/x", False),
    ("https://github.com/example-org/a/../../evil", False),
    ("https://github.com/example-org-evil/x", False),
    ("http://github.com/example-org/dev-team", False),  # another scheme
    ("https://github.com.evil.io/example-org/x", False),
    ("https://user@github.com:8443/example-org/x", False),  # another port is another host
    ("not a url", False),
])
def test_source_urls_compare_normalised_at_a_path_boundary(url: str, ok: bool) -> None:
    assert allowed(url, ORG) is ok


def test_a_prefix_without_slash_still_stops_at_the_boundary() -> None:
    assert not allowed("https://github.com/example-org-evil/x", ("https://github.com/example-org",))


@pytest.mark.parametrize(("kind", "name", "want"), [
    ("ServiceAccount", "flux", ("sa", "dev-team", "flux")),
    ("User", "system:serviceaccount:ops-team:default", ("sa", "ops-team", "default")),
    ("Group", "system:serviceaccounts:ops-team", ("namespace-sas", "ops-team", "")),
    ("Group", "system:serviceaccounts", ("all-sas", "", "")),
    ("Group", "system:authenticated", ("authenticated", "", "")),
    ("Group", "system:unauthenticated", ("unauthenticated", "", "")),
    ("User", "system:anonymous", ("unauthenticated", "", "")),
    ("Group", "system:masters", ("masters", "", "")),
    ("User", "alice", ("other", "", "")),
])
def test_every_subject_form_resolves_to_its_identity(kind: str, name: str, want: tuple) -> None:
    who = rbac_identity.identity({"kind": kind, "name": name}, "dev-team")
    assert who is not None and (who.kind, who.namespace, who.name if who.kind == "sa" else "") \
        == want
    assert who.broad is (who.kind in ("all-sas", "authenticated", "unauthenticated"))


SAFE = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "securityContext": {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}


def test_a_restricted_pod_breaks_no_control() -> None:
    assert list(pod_security.baseline(SAFE, ("spec",))) == []
    assert list(pod_security.restricted(SAFE, ("spec",))) == []


@pytest.mark.parametrize(("change", "level", "key"), [
    ({"hostIPC": True}, "baseline", ("spec", "hostIPC")),
    ({"volumes": [{"name": "r", "hostPath": {"path": "/"}}]}, "baseline",
     ("spec", "volumes", 0, "hostPath")),
    ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}, "baseline",
     ("spec", "securityContext", "sysctls", 0)),
    ({"volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}]}, "restricted",
     ("spec", "volumes", 0)),
    ({"securityContext": {"runAsUser": 0}}, "restricted", ("spec", "securityContext", "runAsUser")),
])
def test_each_pod_security_control_points_at_its_key(change: dict, level: str, key: tuple) -> None:
    pod = {**SAFE, **change}
    found = [p for p, _ in (pod_security.baseline if level == "baseline"
                            else pod_security.restricted)(pod, ("spec",))]
    assert key in found


def test_the_stand_in_is_what_the_lockdown_patches_apply_to() -> None:
    text = lockdown_built.stand_in("v2.9.4", False)
    found = {c.kind: c for c in lockdown_built.controllers(text)}
    assert set(found) == set(lockdown_built.DEFAULT_COMPONENTS)
    assert "--no-cross-namespace-refs" not in found["kustomize-controller"].flags
    assert found["kustomize-controller"].flags["--watch-all-namespaces"] == "true"
