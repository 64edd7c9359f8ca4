"""What a cluster reconciles is the source's *artifact*, not the checkout: files a
``.sourceignore`` or ``spec.ignore`` leaves out are not there, a repository pushed by CI as an
OCI artifact of one folder has its paths inside that folder (declared in ``.flux-fleet.yaml``),
and an ArtifactGenerator's ExternalArtifacts map back to folders of this repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from tree_files import gotk_sync, patching_parent, widget_crd, write_tree

from flux_fleet.errors import UserError
from flux_fleet.validate import sourceignore, validate
from flux_fleet.validate.config import load_config

APPS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec: {interval: 1h, path: ./apps, prune: true,
       sourceRef: {kind: GitRepository, name: flux-system}}
"""
BAD_CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad, namespace: default}\ndata: 3\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\n"


def excluded(patterns: str, *files: str, domain: tuple[str, ...] = ()) -> list[bool]:
    m = sourceignore.matcher(sourceignore.read_patterns(patterns, domain, ".sourceignore"))
    return [m.excluded(f) is not None for f in files]


@pytest.mark.parametrize(("patterns", "file", "out"), [
    ("/*\n!/kubernetes\n", "talos/a.yaml", True),
    ("/*\n!/kubernetes\n", "kubernetes/apps/a.yaml", False),
    ("/*\n!/kubernetes\n", "README.md", True),
    # go-git matches each file on its own: a negation re-includes a file of an excluded folder
    ("/k/**/secrets/\n!/k/**/secrets/keep.yaml\n", "k/c/secrets/keep.yaml", False),
    ("/k/**/secrets/\n!/k/**/secrets/keep.yaml\n", "k/c/secrets/other.yaml", True),
    ("secrets/\n", "a/secrets", False),  # a folder pattern never matches a file of that name
    ("secrets/\n", "a/secrets/x.yaml", True),
    ("*.md\n", "docs/deep/x.md", True),  # a pattern without '/' matches at any depth
    ("docs/*.yaml\n", "x/docs/a.yaml", False),  # one with '/' is anchored at its folder
    ("[\n", "[", False),  # a bad pattern matches nothing (Go's ErrBadPattern)
    ("[^a]x.yaml\n", "bx.yaml", True),
    ("\\#x.yaml\n", "#x.yaml", True),
    ("# a comment\n\n", "a.yaml", False),
])
def test_ignore_patterns_follow_source_controllers_matcher(patterns: str, file: str,
                                                           out: bool) -> None:
    assert excluded(patterns, file) == [out]


def test_any_ignore_pattern_replaces_the_default_exclusions_but_not_the_vcs_ones() -> None:
    files = (".github/workflows/ci.yaml", "apps/.sops.yaml", ".gitignore", "apps/a.yaml")
    assert excluded("", *files) == [True, True, True, False]
    assert excluded("/scratch/\n", *files) == [False, False, True, False]


def test_a_nested_sourceignore_only_speaks_for_its_own_folder() -> None:
    assert excluded("*.yaml\n", "apps/x.yaml", "infra/x.yaml", domain=("apps",)) == [True,
                                                                                     False]


def fleet(tmp_path: Path, extra: dict[str, str], ignore: str = "") -> Path:
    return write_tree(tmp_path, {
        "clusters/dev/flux-system/gotk-sync.yaml": gotk_sync(ignore),
        "clusters/dev/apps.yaml": APPS,
        **extra,
    })


def test_files_the_sourceignore_leaves_out_are_not_checked_and_say_why(tmp_path: Path) -> None:
    repo = fleet(tmp_path, {
        ".sourceignore": "/scratch/\n",
        "scratch/broken.yaml": BAD_CM,
        "apps/cm.yaml": CM,
    })
    result = validate(repo)
    assert result.findings == []
    skip = [s for s in result.skipped if s.file == "scratch/broken.yaml"]
    assert [s.what for s in skip] == ["artifact"]
    assert ".sourceignore:1" in skip[0].reason
    # the same file outside the ignored folder is checked
    (repo / ".sourceignore").write_text("/other/\n")
    assert [f.file for f in validate(repo).findings] == []  # still applied by no one
    (repo / "apps/broken.yaml").write_text(BAD_CM)
    assert [f.file for f in validate(repo).findings] == ["apps/broken.yaml"]


def test_a_build_cannot_read_what_the_artifact_leaves_out(tmp_path: Path) -> None:
    """kustomize in the cluster builds the artifact: a resource that .sourceignore drops is
    missing there, so the build fails, as it would in kustomize-controller."""
    repo = fleet(tmp_path, {
        "apps/kustomization.yaml": ("apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                    "kind: Kustomization\nresources: [cm.yaml, notes/x.yaml]\n"),
        "apps/cm.yaml": CM,
        "apps/notes/x.yaml": CM.replace("name: cm", "name: x"),
    })
    assert validate(repo).findings == []
    (repo / ".sourceignore").write_text("notes/\n")
    assert [f.rule for f in validate(repo).findings] == ["FF301"]


def test_the_sync_sources_spec_ignore_counts_like_a_sourceignore(tmp_path: Path) -> None:
    repo = fleet(tmp_path, {"scratch/broken.yaml": BAD_CM, "apps/broken.yaml": BAD_CM},
                 ignore=", ignore: '/apps/'")
    result = validate(repo)
    assert result.findings == []
    assert {s.file for s in result.skipped if s.what == "artifact"} >= {"apps/broken.yaml"}


OCI_TREE = {
    "deploy/clusters/dev/apps.yaml": patching_parent("OCIRepository"),
    "deploy/apps/web.yaml": """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: web, namespace: flux-system}
spec:
  path: ./web
  sourceRef: {kind: OCIRepository, name: flux-system}
""",
    "deploy/web/cm.yaml": BAD_CM,
}
DECLARED = """\
sync:
  - source: OCIRepository/flux-system
    folder: deploy
    path: ./clusters/dev
"""


def test_a_folder_pushed_as_an_oci_artifact_is_followed_once_declared(tmp_path: Path) -> None:
    """CI runs `flux push artifact --path=./deploy`; the cluster's paths are inside deploy/.
    Nothing in the manifests says so: without the declaration the children look incomplete
    (no interval, no prune), with it the parent's patch reaches them and the real defect in
    the grandchild's folder is found."""
    repo = write_tree(tmp_path, OCI_TREE)
    undeclared = validate(repo)
    assert "web.yaml" in " ".join(f.file for f in undeclared.findings if f.rule == "FF202")
    (repo / ".flux-fleet.yaml").write_text(DECLARED)
    result = validate(repo, load_config(repo))
    assert sorted((f.rule, f.file) for f in result.findings) == [("FF202", "deploy/web/cm.yaml")]


def test_an_external_artifact_of_an_artifact_generator_maps_back_to_its_folder(
        tmp_path: Path) -> None:
    files = dict(OCI_TREE)
    files["deploy/apps/generator.yaml"] = """\
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: {name: gen, namespace: flux-system}
spec:
  sources: [{alias: repo, kind: OCIRepository, name: flux-system}]
  artifacts:
    - name: web
      copy: [{from: "@repo/web/", to: "@artifact/apps/web/"}]
    - name: one-file
      copy: [{from: "@repo/web/cm.yaml", to: "@artifact/cm.yaml"}]
"""
    files["deploy/apps/web.yaml"] = files["deploy/apps/web.yaml"].replace(
        "path: ./web\n  sourceRef: {kind: OCIRepository, name: flux-system}",
        "path: ./apps/web\n  sourceRef: {kind: ExternalArtifact, name: web}")
    files["deploy/apps/other.yaml"] = files["deploy/apps/web.yaml"].replace(
        "name: web, namespace", "name: other, namespace").replace(
        "{kind: ExternalArtifact, name: web}", "{kind: ExternalArtifact, name: one-file}")
    files[".flux-fleet.yaml"] = DECLARED
    repo = write_tree(tmp_path, files)
    result = validate(repo, load_config(repo))
    assert sorted((f.rule, f.file) for f in result.findings) == [("FF202", "deploy/web/cm.yaml")]
    assert any(s.what == "build" and "ExternalArtifact/flux-system/one-file" in s.reason
               for s in result.skipped)


@pytest.mark.parametrize(("text", "says"), [
    ("sync: [{path: ./c, source: HelmRepository/x}]\n", "'source' must be Kind/name"),
    ("sync: [{source: OCIRepository/x}]\n", "'path'"),
    ("sync: [{path: ./c, folder: ../up}]\n", "'folder' must be a folder of this repository"),
    ("sync:\n  - path: ./c\n    branch: main\n", "unknown key branch"),
])
def test_a_bad_sync_declaration_is_a_located_error(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / ".flux-fleet.yaml").write_text(text)
    with pytest.raises(UserError) as err:
        load_config(tmp_path)
    shown = str(err.value) + " ".join(err.value.problems or ())
    assert says in shown and ".flux-fleet.yaml:" in shown


CHART_INSTANCE = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata: {name: flux-instance, namespace: flux-system}
spec: {interval: 1h, url: oci://ghcr.io/controlplaneio-fluxcd/charts/CHART, ref: {tag: 0.58.1}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: flux-instance, namespace: flux-system}
spec:
  interval: 1h
  chartRef: {kind: OCIRepository, name: flux-instance}
  values:
    instance:
      sync: {kind: GitRepository, url: https://github.com/example/fleet.git,
             ref: refs/heads/main, path: setup/cluster}
"""


@pytest.mark.parametrize(("chart", "found"), [("flux-instance", True), ("podinfo", False)])
def test_the_flux_instance_charts_values_are_a_sync_root(tmp_path: Path, chart: str,
                                                         found: bool) -> None:
    """Flux installed by a HelmRelease of the flux-instance chart: its values.instance.sync
    is the FluxInstance's spec.sync, so the cluster starts at setup/cluster."""
    repo = write_tree(tmp_path, {
        "kubernetes/flux-system/flux-instance.yaml": CHART_INSTANCE.replace("CHART", chart),
        "setup/cluster/apps.yaml": APPS,
        "apps/broken.yaml": BAD_CM,
    })
    result = validate(repo)
    assert [(f.rule, f.file) for f in result.findings] == [("FF202", "apps/broken.yaml")]
    # found: the cluster's tree is followed (root, then apps); else the files are only read
    assert (result.stats.built >= 2) is found


OLD_API = """\
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: HelmRepository
metadata: {name: charts, namespace: flux-system}
spec: {interval: 1h, url: https://charts.example.com}
"""


@pytest.mark.parametrize(("header", "severity"), [
    ("", "error"),                                  # nothing pinned: the current Flux
    ("# Flux Version: v2.4.0\n", "warning"),        # still served there: migrate first
    ("# Flux Version: v2.9.3\n", "error"),          # removed in 2.8: rejected
])
def test_a_removed_api_is_judged_against_the_flux_the_fleet_pins(tmp_path: Path, header: str,
                                                                 severity: str) -> None:
    repo = fleet(tmp_path, {
        "clusters/dev/flux-system/gotk-components.yaml": header + "---\n",
        "apps/source.yaml": OLD_API,
    })
    found = [(f.rule, f.severity.value) for f in validate(repo).findings]
    assert found == [("FF204", severity)]


@pytest.mark.parametrize(("field", "rules"), [
    ("postBuild:", []),              # an empty key is absent to the API server: accepted
    ("prune:", ["FF202"]),           # ... so a required field left empty is still missing
    ("dependsOn: [null]", ["FF202"]),  # a null list item is not a field: judged as it is
])
def test_nulls_are_pruned_as_the_api_server_prunes_them(tmp_path: Path, field: str,
                                                        rules: list[str]) -> None:
    from flux_fleet.validate.config import Config

    ks = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
          "metadata: {name: apps, namespace: flux-system}\nspec:\n  interval: 1h\n"
          "  path: ./apps\n  sourceRef: {kind: GitRepository, name: flux-system}\n")
    ks += ("  prune: true\n" if field != "prune:" else "") + f"  {field}\n"
    write_tree(tmp_path, {"ks.yaml": ks})
    assert [f.rule for f in validate(tmp_path, Config(build=False)).findings] == rules


def test_a_helm_charts_files_are_helms_input_not_manifests(tmp_path: Path) -> None:
    """A chart kept in the repository (Chart.yaml, templates with Go templating, values):
    helm-controller renders it; nothing applies its files as they are."""
    from flux_fleet.validate.config import Config

    repo = write_tree(tmp_path, {
        "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
        "charts/web/values.yaml": "replicas: 1\n",
        "charts/web/templates/cm.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                         "  name: {{ .Release.Name }}\n"),
        "charts/web/templates/if.yaml": "{{- if .Values.on }}\nbad: [\n{{- end }}\n",
        "apps/broken.yaml": BAD_CM,
    })
    result = validate(repo, Config(build=False))
    assert [(f.rule, f.file) for f in result.findings] == [("FF202", "apps/broken.yaml")]
    assert {s.file for s in result.skipped if s.what == "helm-chart"} >= {
        "charts/web/templates/cm.yaml", "charts/web/templates/if.yaml"}


def _substituted_fleet(tmp_path: Path, settings_kind: str) -> Path:
    settings = (f"apiVersion: v1\nkind: {settings_kind}\nmetadata: {{name: cluster-settings, "
                "namespace: flux-system}\n" + ("data" if settings_kind == "ConfigMap"
                                               else "stringData") + ": {REPLICAS: '2'}\n")
    return fleet(tmp_path, {
        "clusters/dev/settings.yaml": settings,
        "clusters/dev/apps.yaml": APPS.replace(
            "prune: true,", "prune: true, postBuild: {substituteFrom: "
            f"[{{kind: {settings_kind}, name: cluster-settings}}]}},"),
        "apps/deploy.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: ${REPLICAS}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
""",
    })


def test_substitute_from_reads_the_configmaps_the_repository_applies(tmp_path: Path) -> None:
    """The root applies ConfigMap cluster-settings; apps substitutes from it: the value the
    cluster puts in (replicas: 2) is what is checked, not the unsubstituted ${REPLICAS}."""
    result = validate(_substituted_fleet(tmp_path, "ConfigMap"))
    assert result.findings == []
    assert not any("come from substituteFrom" in s.reason for s in result.skipped)


def test_substitute_from_never_reads_a_secrets_values(tmp_path: Path) -> None:
    """The same from a Secret: its values are not used (a finding could quote them), the
    variables are reported as not available offline instead."""
    result = validate(_substituted_fleet(tmp_path, "Secret"))
    assert "REPLICAS" not in " ".join(f.message for f in result.findings)
    assert any("come from substituteFrom" in s.reason and "REPLICAS" in s.reason
               for s in result.skipped)


WIDGET_CRD = widget_crd(
    "required: [size]\nproperties:\n  size: {type: integer}\n"
    '  name: {type: string, pattern: "^(a+)+$"}')


@pytest.mark.parametrize(("widget", "rules"), [
    ("spec: {size: 3}", []),
    ("spec: {size: big}", ["FF202"]),        # the CRD says integer
    ("spec: {size: 3, colour: red}", ["FF202"]),  # unknown field: the API server prunes it
    ("spec: {size: 3, name: " + "a" * 40 + "b}", []),  # the CRD's pattern is not run (untrusted)
])
def test_a_kind_the_repository_defines_is_checked_against_its_crd(tmp_path: Path, widget: str,
                                                                   rules: list[str]) -> None:
    from flux_fleet.validate.config import Config

    write_tree(tmp_path, {
        "crds/widget.yaml": WIDGET_CRD,
        "apps/widget.yaml": ("apiVersion: example.com/v1\nkind: Widget\n"
                             f"metadata: {{name: w, namespace: default}}\n{widget}\n"),
    })
    result = validate(tmp_path, Config(build=False))
    assert [f.rule for f in result.findings] == rules
    assert not any("no schema for example.com/v1" in s.reason for s in result.skipped)


def test_a_root_and_a_child_applying_one_folder_are_reported_at_the_child(tmp_path: Path) -> None:
    """The root folder has no kustomization.yaml, so the generated one takes its sub-folder
    with a kustomization.yaml in as a resource (fluxcd/pkg generator), and a child Kustomization
    applies that folder again: two owners of one object. The installer's root is written in no
    file; the finding is where the user can act, the child's spec.path."""
    repo = write_tree(tmp_path, {
        "kubernetes/flux-system/flux-instance.yaml": CHART_INSTANCE.replace("CHART",
                                                                            "flux-instance"),
        "setup/cluster/app/kustomization.yaml": ("apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                                 "kind: Kustomization\nresources: [cm.yaml]\n"),
        "setup/cluster/app/cm.yaml": CM,
        "setup/cluster/app.yaml": APPS.replace("name: apps", "name: app").replace(
            "path: ./apps", "path: ./setup/cluster/app"),
    })
    found = [(f.rule, f.file, f.path) for f in validate(repo).findings]
    assert found == [("FF406", "setup/cluster/app.yaml", "spec.path")]
