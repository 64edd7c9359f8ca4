"""References (FF4xx): a fleet's names resolve, and what cannot be known is skipped, not flagged.

Each fixture is a small fleet written to disk, loaded and built with real kustomize, exactly as
`flux-fleet validate` sees it; each defect has its fixed twin that must come out clean.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import kustomize_available
from tree_files import write_tree

from flux_fleet.flux import TenancySettings
from flux_fleet.model import Finding, Inventory, Skipped
from flux_fleet.validate.checks import references
from flux_fleet.validate.checks.build import build_all, classify, file_objects
from flux_fleet.validate.loader import load_tree

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="kustomize/kubectl not on PATH")


def inventory(root: Path, files: dict[str, str], *, tenant_repo: bool = False) -> Inventory:
    """Write the files, then load, classify and build them as the validator does."""
    write_tree(root, files, dedent=True)
    loaded = load_tree(root)
    cls = classify(loaded.documents)
    objects = file_objects(loaded.documents, cls)
    built = build_all(root, loaded.documents, objects, jobs=2, classification=cls).built
    return Inventory(
        root=str(root),
        documents=loaded.documents,
        objects=objects,
        built=built,
        patch_files=frozenset(),
        kustomize_dirs=cls.kustomize_dirs,
        tenant_repo=tenant_repo,
    )


def run(
    check,
    root: Path,
    files: dict[str, str],
    settings: TenancySettings | None = None,
    *,
    tenant_repo: bool = False,
) -> tuple[list[Finding], list[Skipped]]:
    results = list(
        check(inventory(root, files, tenant_repo=tenant_repo), settings or TenancySettings())
    )
    return (
        [r for r in results if isinstance(r, Finding)],
        [r for r in results if isinstance(r, Skipped)],
    )


# A cluster as flux bootstrap leaves it: gotk-sync.yaml defines the repo and the root Kustomization.
SYNC = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m
  url: https://github.com/example-org/fleet
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  path: ./clusters/{cluster}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""


def cluster(name: str = "staging", lockdown: str = "") -> dict[str, str]:
    return {
        f"clusters/{name}/flux-system/gotk-components.yaml": "",
        f"clusters/{name}/flux-system/gotk-sync.yaml": SYNC.replace("{cluster}", name),
        f"clusters/{name}/flux-system/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n  - gotk-components.yaml\n  - gotk-sync.yaml\n"
            + textwrap.dedent(lockdown).lstrip("\n")
        ),
    }


def ks(
    name: str, path: str, extra: str = "", ns: str = "flux-system", source: str = "flux-system"
) -> str:
    return textwrap.dedent(
        f"""
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: {name}
          namespace: {ns}
        spec:
          interval: 10m
          path: {path}
          prune: true
          sourceRef:
            kind: GitRepository
            name: {source}
        """.rstrip(" ")
        + textwrap.indent(textwrap.dedent(extra), "          ")
    ).lstrip("\n")


def line_of(root: Path, file: str, needle: str) -> int:
    for n, text in enumerate((root / file).read_text().splitlines(), 1):
        if needle in text:
            return n
    raise AssertionError(f"{needle!r} not in {file}")


APPS = "apps/podinfo"
HELM = {
    f"{APPS}/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        namespace: podinfo
        resources: [namespace.yaml, repository.yaml, release.yaml, values.yaml]
        """,
    f"{APPS}/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n",
    f"{APPS}/repository.yaml": """
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: HelmRepository
        metadata:
          name: podinfo
        spec:
          interval: 1h
          url: https://stefanprodan.github.io/podinfo
        """,
    f"{APPS}/values.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: podinfo-values
        data:
          values.yaml: "replicaCount: 2"
        """,
    f"{APPS}/release.yaml": """
        apiVersion: helm.toolkit.fluxcd.io/v2
        kind: HelmRelease
        metadata:
          name: podinfo
        spec:
          interval: 10m
          chart:
            spec:
              chart: podinfo
              sourceRef:
                kind: HelmRepository
                name: podinfo
          valuesFrom:
            - kind: ConfigMap
              name: podinfo-values
        """,
}


def fleet(**overrides: str) -> dict[str, str]:
    files = {**cluster(), "clusters/staging/apps.yaml": ks("apps", "./apps/podinfo"), **HELM}
    files.update(overrides)
    return files


def test_clean_fleet_with_helm_release_has_no_findings(tmp_path: Path) -> None:
    findings, _ = run(references.check, tmp_path, fleet())
    assert findings == []


# (rule, what to change, the file and the text on the line the finding must point at)
CASES = [
    (
        "FF401",
        {"clusters/staging/apps.yaml": ks("apps", "./apps/podinfo", source="flux-sytem")},
        {"clusters/staging/apps.yaml": ks("apps", "./apps/podinfo", source="flux-system")},
        "clusters/staging/apps.yaml",
        "name: flux-sytem",
    ),
    (
        "FF401",
        {
            f"{APPS}/release.yaml": HELM[f"{APPS}/release.yaml"]
            .replace(
                "name: podinfo\n        spec:\n          interval: 10m\n          chart",
                "name: podinfo\n        spec:\n          interval: 10m\n          chart",
            )
            .replace("                name: podinfo\n", "                name: podinfo-charts\n")
        },
        {},
        f"{APPS}/release.yaml",
        "name: podinfo-charts",
    ),
    (
        "FF402",
        {"clusters/staging/infra.yaml": ks("infra", "./infra", "dependsOn:\n  - name: policy\n")},
        {"clusters/staging/infra.yaml": ks("infra", "./infra", "dependsOn:\n  - name: apps\n")},
        "clusters/staging/infra.yaml",
        "name: policy",
    ),
    (
        "FF403",
        {
            "clusters/staging/apps.yaml": ks(
                "apps", "./apps/podinfo", "dependsOn:\n  - name: infra\n"
            ),
            "clusters/staging/infra.yaml": ks("infra", "./infra", "dependsOn:\n  - name: apps\n"),
        },
        {
            "clusters/staging/apps.yaml": ks(
                "apps", "./apps/podinfo", "dependsOn:\n  - name: infra\n"
            ),
            "clusters/staging/infra.yaml": ks("infra", "./infra"),
        },
        "clusters/staging/apps.yaml",
        "name: infra",
    ),
    (
        "FF404",
        {
            f"{APPS}/values.yaml": HELM[f"{APPS}/values.yaml"].replace(
                "podinfo-values", "podinfo-vals"
            )
        },
        {},
        f"{APPS}/release.yaml",
        "name: podinfo-values",
    ),
    (
        "FF404",
        {
            "clusters/staging/infra.yaml": ks(
                "infra",
                "./infra",
                "postBuild:\n  substituteFrom:\n    - kind: ConfigMap\n      name: cluster-vars\n",
            )
        },
        {
            "clusters/staging/infra.yaml": ks(
                "infra",
                "./infra",
                "postBuild:\n  substituteFrom:\n"
                "    - kind: ConfigMap\n      name: cluster-vars\n"
                "      optional: true\n",
            )
        },
        "clusters/staging/infra.yaml",
        "name: cluster-vars",
    ),
    (
        "FF405",
        {
            "clusters/staging/alerts.yaml": """
        apiVersion: notification.toolkit.fluxcd.io/v1beta3
        kind: Alert
        metadata:
          name: on-call
          namespace: flux-system
        spec:
          providerRef:
            name: slakc
          eventSources:
            - kind: Kustomization
              name: '*'
        """
        },
        {
            "clusters/staging/alerts.yaml": """
        apiVersion: notification.toolkit.fluxcd.io/v1beta3
        kind: Provider
        metadata:
          name: slakc
          namespace: flux-system
        spec:
          type: slack
        """
        },
        "clusters/staging/alerts.yaml",
        "name: slakc",
    ),
    (
        "FF406",
        {"clusters/staging/infra.yaml": ks("infra", "./apps")},
        {"clusters/staging/infra.yaml": ks("infra", "./infra")},
        "clusters/staging/infra.yaml",
        "path: ./apps",
    ),
]
INFRA = {
    "infra/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    "resources: [quota.yaml]\n",
    "infra/quota.yaml": "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: q\n"
    "  namespace: podinfo\n"
    "spec:\n  hard:\n    pods: '10'\n",
}


@pytest.mark.parametrize(
    ("rule", "bad", "fix", "file", "needle"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_each_reference_defect_is_found_where_it_is_and_its_fix_is_clean(
    tmp_path: Path, rule: str, bad: dict[str, str], fix: dict[str, str], file: str, needle: str
) -> None:
    findings, _ = run(references.check, tmp_path / "bad", fleet(**{**INFRA, **bad}))
    hits = [f for f in findings if f.rule == rule]
    assert len(hits) == 1, findings
    assert hits[0].file == file
    assert hits[0].line == line_of(tmp_path / "bad", file, needle)
    # the fix: the bad files with the fix applied (an empty fix means: the untouched fleet)
    fixed = fleet(**{**INFRA, **bad, **fix}) if fix else fleet(**INFRA)
    findings, _ = run(references.check, tmp_path / "good", fixed)
    assert [f for f in findings if f.rule == rule] == []


def test_a_dependency_cycle_is_reported_once_with_its_path(tmp_path: Path) -> None:
    files = fleet(
        **INFRA,
        **{
            "clusters/staging/a.yaml": ks("a", "./infra", "dependsOn:\n  - name: b\n"),
            "clusters/staging/b.yaml": ks("b", "./infra", "dependsOn:\n  - name: c\n"),
            "clusters/staging/c.yaml": ks("c", "./infra", "dependsOn:\n  - name: a\n"),
        },
    )
    findings, _ = run(references.check, tmp_path, files)
    cycles = [f for f in findings if f.rule == "FF403"]
    assert [f.message for f in cycles] == [
        "dependsOn cycle: Kustomization/flux-system/a -> Kustomization/flux-system/b -> "
        "Kustomization/flux-system/c -> Kustomization/flux-system/a"
    ]


def test_bootstrap_source_without_gotk_sync_is_skipped_not_flagged(tmp_path: Path) -> None:
    files = fleet()
    del files["clusters/staging/flux-system/gotk-sync.yaml"]
    files["clusters/staging/flux-system/kustomization.yaml"] = (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [gotk-components.yaml]\n"
    )
    findings, skipped = run(references.check, tmp_path, files)
    assert findings == []
    assert any("created by flux bootstrap" in s.reason for s in skipped)


def test_reference_into_a_tenant_repo_namespace_is_skipped(tmp_path: Path) -> None:
    """The tenant's own Kustomization applies a repo we cannot see into its namespace."""
    files = fleet(
        **{
            "clusters/staging/tenants.yaml": ks("tenants", "./tenants"),
            "tenants/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\nresources: [sync.yaml]\n",
            "tenants/sync.yaml": SYNC.replace("flux-system", "dev-team")
            .replace("./clusters/{cluster}", "./")
            .replace("example-org/fleet", "example-org/dev-team")
            + "---\n"
            + textwrap.dedent(
                ks(
                    "uses-tenant-cm",
                    "./",
                    ns="dev-team",
                    source="dev-team",
                    extra=(
                        "serviceAccountName: flux\npostBuild:\n  substituteFrom:\n    - "
                        "kind: ConfigMap\n"
                        "      name: made-by-tenant\n"
                    ),
                )
            ),
        }
    )
    findings, skipped = run(references.check, tmp_path, files)
    assert findings == []
    assert any(
        "made-by-tenant" in s.reason and "outside this repository" in s.reason for s in skipped
    )


def test_sops_secret_generated_configmap_and_external_secret_count_as_present(
    tmp_path: Path,
) -> None:
    files = fleet(
        **{
            "clusters/staging/infra.yaml": ks(
                "infra",
                "./infra",
                "postBuild:\n  substituteFrom:\n"
                "    - kind: Secret\n      name: cluster-secrets\n"
                "    - kind: ConfigMap\n      name: cluster-settings\n"
                "    - kind: Secret\n      name: from-vault\n",
            ),
            "infra/kustomization.yaml": """
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            namespace: flux-system
            resources: [secret.sops.yaml, external.yaml]
            configMapGenerator:
              - name: cluster-settings
                literals: [CLUSTER=staging]
            """,
            "infra/secret.sops.yaml": """
            apiVersion: v1
            kind: Secret
            metadata:
              name: cluster-secrets
              namespace: flux-system
            stringData:
              TOKEN: ENC[AES256_GCM,data:abc,type:str]
            sops:
              age:
                - recipient: age1xyz
              version: 3.8.1
            """,
            "infra/external.yaml": """
            apiVersion: external-secrets.io/v1
            kind: ExternalSecret
            metadata:
              name: vault
            spec:
              target:
                name: from-vault
            """,
        }
    )
    findings, _ = run(references.check, tmp_path, files)
    assert findings == []


def test_each_cluster_resolves_its_own_objects(tmp_path: Path) -> None:
    """A source defined only in production does not satisfy staging's reference to it."""
    files = {
        **cluster("staging"),
        **cluster("production"),
        "clusters/production/source.yaml": """
                 apiVersion: source.toolkit.fluxcd.io/v1
                 kind: GitRepository
                 metadata:
                   name: shared
                   namespace: flux-system
                 spec:
                   interval: 1m
                   url: https://github.com/example-org/shared
                 """,
        "clusters/production/apps.yaml": ks("apps", "./", source="shared"),
        "clusters/staging/apps.yaml": ks("apps", "./", source="shared"),
    }
    findings, _ = run(references.check, tmp_path, files)
    assert [(f.rule, f.file) for f in findings] == [("FF401", "clusters/staging/apps.yaml")]


def test_substituted_names_are_skipped(tmp_path: Path) -> None:
    files = fleet(
        **{"clusters/staging/apps.yaml": ks("apps", "./apps/podinfo", source="${SOURCE}")}
    )
    findings, skipped = run(references.check, tmp_path, files)
    assert [f for f in findings if f.rule == "FF401"] == []
    assert any(s.what == "substitution" for s in skipped)


def test_every_rule_has_docs_text() -> None:
    for rule in references.RULES:
        assert rule.code.startswith("FF4") and rule.why and rule.fix and rule.bad and rule.good
