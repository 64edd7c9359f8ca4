"""No leaks (issue 11): values of Secrets, SOPS data and generator inputs never reach a report.

One unique marker is planted in every such place: a Secret's ``data`` and ``stringData``
(valid, of the wrong type, duplicated, a ${VAR} placeholder), a SOPS-encrypted document and its
``sops`` metadata, and secretGenerator / configMapGenerator literals, env files and files, each
in a folder of its own so every rule that can fire on them does (schema errors, duplicate keys,
substitution, kustomize's generator errors). The marker must appear in no output format.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from tree_files import write_tree

from flux_fleet.cli import main
from flux_fleet.scaffold import git
from flux_fleet.validate import ValidationResult, available_rules, validate
from flux_fleet.validate.report import FORMATS, ReportContext, make_reporter

M = f"leak{uuid.uuid4().hex[:12]}"  # matches nothing a report prints but the planted values
SYNC = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 1m0s
  ref: {branch: main}
  url: https://github.com/example-org/fleet
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec:
  interval: 10m0s
  path: ./clusters/c1
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
"""
FOLDERS = ("secrets", "subst", "sops", "literal", "duplicate", "envs", "files")


def applies(folder: str) -> str:
    return f"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: {folder}, namespace: flux-system}}
spec:
  interval: 10m
  path: ./{folder}
  prune: true
  sourceRef: {{kind: GitRepository, name: flux-system}}
  postBuild:
    substitute: {{region: eu}}
"""


def kustomization(body: str) -> str:
    return f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n{body}"


TREE = {
    "clusters/c1/flux-system/gotk-sync.yaml": SYNC,
    "clusters/c1/flux-system/kustomization.yaml": kustomization("resources: [gotk-sync.yaml]\n"),
    **{f"clusters/c1/{f}.yaml": applies(f) for f in FOLDERS},
    "secrets/kustomization.yaml": kustomization("resources: [secret.yaml]\n"),
    "secrets/secret.yaml": f"""\
apiVersion: v1
kind: Secret
metadata: {{name: s1, namespace: default}}
stringData:
  plain: {M}-stringdata
  twice: {M}-dup1
  twice: {M}-dup2
  later: ${{{M}_VAR}}
  nested: {{deep: {M}-nested}}
data:
  listed: [{M}-data-list]
  number: 12
  encoded: {M}-not-base64
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: c1, namespace: default}}
data:
  wrong: [{M}-configmap]
binaryData:
  blob: {{x: {M}-binary}}
""",
    "subst/kustomization.yaml": kustomization("resources: [secret.yaml]\n"),
    "subst/secret.yaml": f"""\
apiVersion: v1
kind: Secret
metadata: {{name: s3, namespace: default}}
stringData:
  unset: ${{unset_var}}
  kept: {M}-subst
  fallback: ${{other:={M}-default}}
  region: ${{region:={M}-unused}}
""",
    "sops/kustomization.yaml": kustomization("resources: [secret.sops.yaml]\n"),
    "sops/secret.sops.yaml": f"""\
apiVersion: v1
kind: Secret
metadata: {{name: s2, namespace: default}}
type: [{M}-type]
stringData:
  token: ENC[AES256_GCM,data:{M}-sops1,iv:aa,tag:bb,type:str]
  list: ["ENC[AES256_GCM,data:{M}-sops2,iv:aa,tag:bb,type:str]"]
sops:
  age:
    - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
      enc: {M}-sops-key
  mac: ENC[AES256_GCM,data:{M}-sops-mac,type:str]
  version: 3.8.1
""",
    "literal/kustomization.yaml": kustomization(
        f"secretGenerator:\n  - name: g1\n    literals: [password={M}-ok, {M}-no-key]\n"),
    "duplicate/kustomization.yaml": kustomization(
        f"configMapGenerator:\n  - name: g2\n    literals: [pw={M}-one, pw={M}-two]\n"),
    "envs/kustomization.yaml": kustomization(
        "secretGenerator:\n  - name: g3\n    envs: [secret.env, bad.env]\n"),
    "envs/secret.env": f"GOOD={M}-env\n",
    "envs/bad.env": f"not a key={M}-env-bad\n",
    "files/kustomization.yaml": kustomization(
        "secretGenerator:\n  - name: g4\n    files: [key.txt, missing.txt]\n"
        "configMapGenerator:\n  - name: g5\n    files: [conf=key.txt]\n"),
    "files/key.txt": f"{M}-file\n",
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ValidationResult]:
    root = write_tree(tmp_path_factory.mktemp("leaks") / "repo", TREE)
    git.init_repo(root, "planted")
    return root, validate(root)


def test_the_planted_values_make_the_rules_fire(
        planted: tuple[Path, ValidationResult]) -> None:
    """Without this the test below could pass on a run that checked nothing."""
    _, result = planted
    rules = {(f.rule, f.file) for f in result.findings}
    assert ("FF102", "secrets/secret.yaml") in rules, rules  # the duplicate key
    assert ("FF202", "secrets/secret.yaml") in rules, rules  # wrong types in data/stringData
    assert ("FF202", "sops/secret.sops.yaml") in rules or any(
        s.what == "sops" for s in result.skipped), rules
    failed = {f.file for f in result.findings if f.rule == "FF301"}
    assert {"clusters/c1/literal.yaml", "clusters/c1/duplicate.yaml"} <= failed, failed
    assert ("FF303", "clusters/c1/subst.yaml") in rules, rules  # ${unset_var}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_report_format_quotes_a_planted_value(
        fmt: str, planted: tuple[Path, ValidationResult]) -> None:
    root, result = planted
    out = io.StringIO()
    reporter = make_reporter(fmt, out, ReportContext(rules=available_rules(), root=str(root),
                                                     show_skipped=True))
    for f in result.findings:
        reporter.write(f)
    for s in result.skipped:
        reporter.skip(s)
    reporter.finish(result)
    text = out.getvalue()
    assert text.strip()
    assert M not in text, [line for line in text.splitlines() if M in line]


def test_the_command_line_quotes_none_either(planted: tuple[Path, ValidationResult],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = planted
    assert main(["validate", str(root), "--show-skipped", "--no-build"]) == 1
    assert main(["validate", str(root), "--show-skipped", "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert M not in captured.out + captured.err
