"""The schema store: generated from CRDs and Kubernetes schemas, shipped, read by kubeconform."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, SHARED

from flux_fleet.cli import main
from flux_fleet.errors import UserError
from flux_fleet.model import Document, Finding, KObject, ObjectId, Skipped
from flux_fleet.validate.checks.schema import check_objects
from flux_fleet.validate.schema_store import SchemaStore
from flux_fleet.validate.schemas_build import (
    KUBERNETES_KINDS,
    build_store,
    schema_file,
    store_drift,
)

FLUX_CRDS = SHARED / "crds" / "flux"
KUBERNETES = SHARED / "crds" / "kubernetes" / "v1.37.0-local-strict"
STORE = REPO_ROOT / "schemas"
needs_shared = pytest.mark.skipif(
    not (FLUX_CRDS.is_dir() and KUBERNETES.is_dir()),
    reason=f"reference CRDs and Kubernetes schemas not found under {SHARED}/crds")

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {kind: Widget, plural: widgets}
  versions:
  - {name: v1alpha1, served: false, storage: false, schema: {openAPIV3Schema: {type: object}}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: the widget
            required: [size]
            x-kubernetes-validations:
            - {rule: "self.size ==", message: broken rule}
            - {rule: "self.size == oldSelf.size", message: size is immutable}
            - {rule: "!has(self.color) || self.color != 'red'", message: no red widgets}
            properties:
              size: {x-kubernetes-int-or-string: true}
              color: {type: string, nullable: true}
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
                properties: {a: {type: string}}
"""


def widget(spec: dict, api_version: str = "example.com/v1", kind: str = "Widget") -> KObject:
    data = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w"}, "spec": spec}
    doc = Document(file="widget.yaml", index=0, line=1, column=1, data=data)
    return KObject(ObjectId.of(data), api_version, data, doc)


@pytest.fixture(scope="module")
def widget_store(tmp_path_factory: pytest.TempPathFactory) -> SchemaStore:
    if not KUBERNETES.is_dir():
        pytest.skip(f"Kubernetes schemas not found under {KUBERNETES}")
    crds = tmp_path_factory.mktemp("crds")
    (crds / "widgets.yaml").write_text(WIDGET_CRD)
    out = tmp_path_factory.mktemp("store")
    assert main(["schemas", "build", "--crds", str(crds), "--kubernetes", str(KUBERNETES),
                 "--out", str(out)]) == 0
    return SchemaStore(out)


def results(store: SchemaStore, obj: KObject) -> list[tuple[str, str]]:
    out = []
    for r in check_objects([obj], store, strict=False):
        out.append((r.rule, r.message) if isinstance(r, Finding) else (r.what, r.reason))
    return out


@needs_shared
def test_shipped_store_matches_what_the_generator_writes() -> None:
    problems = store_drift(build_store(FLUX_CRDS, KUBERNETES), STORE)
    assert problems == [], "schema store drifted; run `flux-fleet schemas build --crds " \
        f"{FLUX_CRDS} --kubernetes {KUBERNETES} --out schemas`:\n" + "\n".join(problems)


@needs_shared
def test_generator_is_deterministic() -> None:
    assert build_store(FLUX_CRDS, KUBERNETES) == build_store(FLUX_CRDS, KUBERNETES)


@needs_shared
def test_cli_build_writes_the_store_and_check_detects_drift(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "schemas"
    args = ["--crds", str(FLUX_CRDS), "--kubernetes", str(KUBERNETES)]
    assert main(["schemas", "build", *args, "--out", str(out)]) == 0
    assert (out / "kustomize.toolkit.fluxcd.io" / "kustomization_v1.json").is_file()
    assert (out / "v1" / "namespace_v1.json").is_file()
    assert main(["schemas", "check", *args, "--store", str(out)]) == 0
    (out / "v1" / "namespace_v1.json").write_text("{}\n")
    (out / "apps" / "deployment_v1.json").unlink()
    (out / "stale_v1.json").write_text("{}\n")
    capsys.readouterr()
    assert main(["schemas", "check", *args, "--store", str(out)]) == 1
    printed = capsys.readouterr()
    assert "apps/deployment_v1.json: missing from the store" in printed.out
    assert "v1/namespace_v1.json: differs" in printed.out
    assert "stale_v1.json: not generated" in printed.out
    assert "flux-fleet schemas build" in printed.err
    assert main(["schemas", "build", *args, "--out", str(out)]) == 0
    assert not (out / "stale_v1.json").exists()
    assert main(["schemas", "check", *args, "--store", str(out)]) == 0


def test_cli_build_without_crds_is_a_usage_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "not-a-crd.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    assert main(["schemas", "build", "--crds", str(tmp_path), "--kubernetes", str(tmp_path),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "_definitions.json" in err and "Traceback" not in err


def test_store_layout_is_what_kubeconform_looks_up() -> None:
    """kubeconform fills {{.Group}} with the apiVersion before '/', i.e. "v1" for core kinds."""
    index = json.loads((STORE / "index.json").read_text())
    files = 0
    for api_version, kinds in index["kinds"].items():
        for kind, row in kinds.items():
            if row["file"] is None:
                continue
            parts = api_version.split("/")
            group, version = parts[0], parts[-1]
            assert row["file"] == f"{group}/{kind.lower()}_{version}.json"
            assert row["file"] == schema_file(api_version, kind)
            assert (STORE / row["file"]).is_file()
            files += 1
    assert files == len(list(STORE.rglob("*_*.json")))


def test_store_has_the_kinds_fleets_use_and_nothing_agpl() -> None:
    store = SchemaStore(STORE)
    for api_version, kind in [
        ("v1", "Namespace"), ("v1", "ServiceAccount"), ("v1", "ConfigMap"), ("v1", "Secret"),
        ("v1", "Service"), ("v1", "Pod"), ("v1", "PersistentVolumeClaim"), ("v1", "LimitRange"),
        ("v1", "ResourceQuota"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"), ("batch/v1", "Job"), ("batch/v1", "CronJob"),
        ("networking.k8s.io/v1", "Ingress"), ("networking.k8s.io/v1", "NetworkPolicy"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
        ("scheduling.k8s.io/v1", "PriorityClass"), ("storage.k8s.io/v1", "StorageClass"),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
        ("source.extensions.fluxcd.io/v1beta1", "ArtifactGenerator"),
    ]:
        assert store.known_kind(api_version, kind), (api_version, kind)
    assert len([k for k in store.kinds() if k.source == "kubernetes"]) == len(KUBERNETES_KINDS)
    for path in STORE.rglob("*.json"):
        text = path.read_text()
        assert "fluxcd.controlplane.io" not in text, path
        assert json.loads(text)["$comment"].startswith(("Generated by flux-fleet",
                                                        "flux-fleet schema store index"))
    flux = json.loads((STORE / "source.toolkit.fluxcd.io" / "gitrepository_v1.json").read_text())
    assert "fluxcd/source-controller@39b711b111fa" in flux["$comment"]
    assert "Apache-2.0" in flux["$comment"]


def test_scope_and_served_versions_come_from_the_index() -> None:
    store = SchemaStore(STORE)
    assert store.is_namespaced("v1", "Namespace") is False
    assert store.is_namespaced("rbac.authorization.k8s.io/v1", "ClusterRole") is False
    assert store.is_namespaced("apps/v1", "Deployment") is True
    assert store.is_namespaced("source.toolkit.fluxcd.io/v1beta2", "GitRepository") is True
    assert store.is_namespaced("apps/v1beta1", "Deployment") is True  # same group, other version
    assert store.is_namespaced("cert-manager.io/v1", "Certificate") is None
    assert not store.known_kind("source.toolkit.fluxcd.io/v1beta2", "GitRepository")
    old = store.info("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease")
    assert old is not None and not old.served and old.use == "helm.toolkit.fluxcd.io/v2"


def test_validators_are_compiled_once_per_store_instance() -> None:
    first, second = SchemaStore(STORE), SchemaStore(STORE)
    v = first.validator("apps/v1", "Deployment")
    assert v is first.validator("apps/v1", "Deployment")
    assert v is not second.validator("apps/v1", "Deployment")
    assert first.validator("cert-manager.io/v1", "Certificate") is None


def test_a_missing_store_is_a_clear_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError) as caught:
        SchemaStore(tmp_path)
    assert "index.json" in caught.value.message
    assert "flux-fleet schemas build" in caught.value.hint


# --- the generic converter, on a CRD written for the test ----------------------------------

def test_converted_crd_is_strict_and_maps_int_or_string_and_nullable(
        widget_store: SchemaStore) -> None:
    (only,) = results(widget_store, widget({"size": 3}))  # the broken rule cannot be checked
    assert only[0] == "cel" and only[1].startswith("spec: rule 'self.size ==' could not be "
                                                   "evaluated: cannot compile rule")
    for spec in ({"size": "3"}, {"size": 3, "color": None}, {"size": 1, "extra": {"b": [1]}}):
        assert [r for r in results(widget_store, widget(spec)) if r[0] != "cel"] == [], spec
    assert ("FF202", "spec.size: True is not valid under any of the given schemas") in \
        results(widget_store, widget({"size": True}))
    assert ("FF202", "spec.colour: unknown field 'colour'") in \
        results(widget_store, widget({"size": 1, "colour": "blue"}))


def test_converted_crd_cel_rules(widget_store: SchemaStore) -> None:
    found = results(widget_store, widget({"size": 1, "color": "red"}))
    assert ("FF203", "spec: no red widgets") in found
    assert not any("immutable" in message for _, message in found)  # transition rule: update only
    skipped = [r for r in found if r[0] == "cel"]
    assert len(skipped) == 1 and "cannot compile" in skipped[0][1]


def test_converted_crd_scope_unserved_versions_and_typos(widget_store: SchemaStore) -> None:
    assert widget_store.is_namespaced("example.com/v1", "Widget") is False
    assert results(widget_store, widget({"size": 1}, api_version="example.com/v1alpha1")) == [
        ("FF204", "example.com/v1alpha1 Widget is no longer served")]
    assert [r[0] for r in results(widget_store, widget({"size": 1}, kind="Wigdet"))] == ["FF201"]


def test_schema_files_keep_the_cel_rules_for_one_store_two_consumers() -> None:
    hr = json.loads((STORE / "helm.toolkit.fluxcd.io" / "helmrelease_v2.json").read_text())
    spec = hr["properties"]["spec"]
    assert spec["x-kubernetes-validations"][0]["message"] == "either chart or chartRef must be set"
    assert spec["additionalProperties"] is False
    assert spec["properties"]["values"].get("x-kubernetes-preserve-unknown-fields") is True
    assert "additionalProperties" not in spec["properties"]["values"]
    assert hr["properties"]["apiVersion"] == {"const": "helm.toolkit.fluxcd.io/v2",
                                              "type": "string"}
    assert "description" not in json.dumps(hr["properties"]["spec"]["properties"]["interval"])


@pytest.mark.skipif(shutil.which("kubeconform") is None,
                    reason="kubeconform is not on PATH (not packaged in Debian or PyPI)")
def test_kubeconform_uses_the_store(tmp_path: Path) -> None:
    manifests = tmp_path / "fleet.yaml"
    manifests.write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}},
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "app", "namespace": "dev"},
         "spec": {"interval": 5, "url": "https://example.com/app"}},
    ]))
    location = f"{STORE}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json"
    proc = subprocess.run(["kubeconform", "-strict", "-summary", "-output", "json",
                           "-schema-location", location, str(manifests)],
                          capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout)
    assert report["summary"]["valid"] == 1 and report["summary"]["invalid"] == 1, proc.stdout
    assert proc.returncode == 1


def test_skipped_is_a_skip_not_a_finding(widget_store: SchemaStore) -> None:
    (skip,) = [r for r in check_objects([widget({"size": 1})], widget_store, strict=False)]
    assert isinstance(skip, Skipped) and skip.what == "cel" and skip.object == "Widget/w"
