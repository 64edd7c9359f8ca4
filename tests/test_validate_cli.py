"""`flux-fleet validate` end to end: a rendered fleet, each output format, exit codes, filters,
suppression, config files, pre-commit file names and hostile input — through the real CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, kustomize_available

from flux_fleet.cli import main
from flux_fleet.commands.rules import docs_markdown
from flux_fleet.validate import available_rules

pytestmark = pytest.mark.skipif(not kustomize_available(), reason="kustomize/kubectl not on PATH")

BAD_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
data:
  replicas: 3
"""


@pytest.fixture(scope="module")
def rendered_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default platform fleet, rendered once with the real template."""
    from flux_fleet.scaffold.render import render_new

    return render_new(tmp_path_factory.mktemp("render") / "fleet", {}, defaults=True)


@pytest.fixture
def fleet(rendered_fleet: Path, tmp_path: Path) -> Path:
    """A private copy of the default fleet this test may break."""
    return Path(shutil.copytree(rendered_fleet, tmp_path / "fleet", symlinks=True))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


def break_fleet(fleet: Path) -> Path:
    """Add a ConfigMap whose data value is a number to what every cluster applies (listed in
    infrastructure/base/controllers/kustomization.yaml): a schema error (FF202) at line 7."""
    bad = fleet / "infrastructure" / "base" / "controllers" / "settings.yaml"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text(BAD_CONFIGMAP)
    kus = bad.parent / "kustomization.yaml"
    kus.write_text(kus.read_text().replace("resources: []", "resources: [settings.yaml]"))
    return bad


# --- the happy path ---------------------------------------------------------------------


def test_default_rendered_fleet_validates_clean(capsys, rendered_fleet: Path) -> None:
    code, out, _ = run(capsys, str(rendered_fleet))
    assert code == 0, out
    summary = out.strip().splitlines()[-1]
    assert re.match(r"\d+ files, \d+ documents, [1-9]\d* Kustomizations built, \d+ skipped, "
                    r"0 errors, 0 warnings in \d+\.\d\ds", summary), summary


def test_every_cluster_counts_its_own_kustomizations_and_builds(capsys,
                                                                rendered_fleet: Path) -> None:
    code, out, _ = run(capsys, str(rendered_fleet), "--format", "json")
    assert code == 0
    stats = json.loads(out)["summary"]
    clusters = len(list((rendered_fleet / "clusters").iterdir()))
    tenants = len(list((rendered_fleet / "tenants" / "base").iterdir()))
    # flux-system, infrastructure, infrastructure-configs, policies and tenant-<name> per cluster...
    assert stats["kustomizations_built"] == (4 + tenants) * clusters
    # ...but each tenant's tenants/base/<tenant>/ is built once, shared by every cluster
    assert stats["kustomize_builds"] == 4 * clusters + tenants
    # ...and small builds that rename nothing share kustomize processes
    assert 1 <= stats["kustomize_processes"] < stats["kustomize_builds"]


def test_current_directory_is_the_default_path(capsys, rendered_fleet: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(rendered_fleet)
    code, out, _ = run(capsys)
    assert code == 0 and "0 errors" in out


def test_no_build_checks_the_files_and_says_what_it_left_out(capsys, fleet: Path) -> None:
    break_fleet(fleet)  # a bad ConfigMap: a file object, found without building
    kust = fleet / "infrastructure" / "base" / "controllers" / "kustomization.yaml"
    kust.write_text("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                    "resources:\n  - settings.yaml\n  - missing.yaml\n")  # only a build notices
    code, out, _ = run(capsys, str(fleet), "--format", "json")
    assert code == 1
    assert {f["rule"] for f in json.loads(out)["findings"]} >= {"FF202", "FF301"}
    code, out, _ = run(capsys, str(fleet), "--no-build", "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert {f["rule"] for f in report["findings"]} == {"FF202"}
    assert report["summary"]["kustomize_builds"] == 0
    assert any("--no-build" in note for note in report["notes"])


# --- exit codes ---------------------------------------------------------------------------


def test_an_error_fails_the_run_with_its_location(capsys, fleet: Path) -> None:
    break_fleet(fleet)
    code, out, _ = run(capsys, str(fleet))
    assert code == 1
    assert re.search(r"^infrastructure/base/controllers/settings\.yaml:7:\d+ FF202 error: ", out,
                     re.M), out
    assert "    fix: " in out
    assert ", 1 error, " in out.splitlines()[-1]


def test_missing_path_is_a_usage_error(capsys, tmp_path: Path) -> None:
    code, out, err = run(capsys, str(tmp_path / "nope"))
    assert code == 2
    assert "nope: no such file or directory" in err and out == ""


def test_unknown_option_and_format_are_usage_errors(capsys, rendered_fleet: Path) -> None:
    assert run(capsys, str(rendered_fleet), "--format", "xml")[0] == 2
    assert run(capsys, str(rendered_fleet), "--frobnicate")[0] == 2


def test_unknown_rule_code_is_a_usage_error(capsys, rendered_fleet: Path) -> None:
    code, _, err = run(capsys, str(rendered_fleet), "--ignore", "FF999")
    assert code == 2 and "unknown rule code: FF999" in err


def test_bad_config_file_is_a_located_usage_error(capsys, fleet: Path) -> None:
    (fleet / ".flux-fleet.yaml").write_text("ignore: [FF202]\nstrictt: true\n")
    code, _, err = run(capsys, str(fleet))
    assert code == 2
    assert ".flux-fleet.yaml:2:1: unknown setting 'strictt'" in err


def test_warnings_fail_only_with_strict(capsys, fleet: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("kind: Nothing\n")
    (fleet / "link.yaml").symlink_to(outside)  # FF107, a warning
    code, out, _ = run(capsys, str(fleet))
    assert code == 0 and "FF107 warning" in out
    assert run(capsys, str(fleet), "--strict")[0] == 1


def test_tenant_flag_forbids_cluster_scoped_objects(capsys, rendered_fleet: Path) -> None:
    """The platform fleet creates Namespaces: as a tenant repository it must fail."""
    code, out, _ = run(capsys, str(rendered_fleet), "--tenant", "--select", "FF5")
    assert code == 1
    assert re.search(r"^tenants/base/dev-team/\S+:\d+:\d+ FF5\d\d error: .*Namespace/dev-team",
                     out, re.M), out


# --- filters, suppression, config ---------------------------------------------------------


@pytest.mark.parametrize(("args", "reported"), [
    ((), True),
    (("--ignore", "FF202"), False),
    (("--ignore", "FF2"), False),
    (("--select", "FF4"), False),
    (("--select", "FF2"), True),
    (("--select", "FF202", "--ignore", "FF2"), True),
])
def test_select_and_ignore(capsys, fleet: Path, args: tuple[str, ...], reported: bool) -> None:
    break_fleet(fleet)
    code, out, _ = run(capsys, str(fleet), *args)
    assert ("FF202" in out) is reported
    assert code == (1 if reported else 0)


@pytest.mark.parametrize("comment", [
    "  replicas: 3  # flux-fleet: ignore FF202\n",
    "  # flux-fleet: ignore FF202\n  replicas: 3\n",
    "  replicas: 3  # flux-fleet: ignore\n",
])
def test_suppression_comment_silences_the_finding(capsys, fleet: Path, comment: str) -> None:
    bad = break_fleet(fleet)
    bad.write_text(bad.read_text().replace("  replicas: 3\n", comment))
    code, out, _ = run(capsys, str(fleet))
    assert code == 0, out
    assert "1 suppressed" in out.splitlines()[-1]


def test_suppression_of_another_rule_does_not_silence(capsys, fleet: Path) -> None:
    bad = break_fleet(fleet)
    bad.write_text("# flux-fleet: ignore-file FF401\n" + bad.read_text())
    assert run(capsys, str(fleet))[0] == 1


def test_ignore_file_comment(capsys, fleet: Path) -> None:
    bad = break_fleet(fleet)
    bad.write_text("# flux-fleet: ignore-file FF202\n" + bad.read_text())
    assert run(capsys, str(fleet))[0] == 0


@pytest.mark.parametrize(("name", "text"), [
    (".flux-fleet.yaml", "ignore: [FF202]\n"),
    ("pyproject.toml", '[tool.flux-fleet]\nignore = ["FF202"]\n'),
    (".flux-fleet.yaml", "exclude: [infrastructure/base/controllers/settings.yaml]\n"),
])
def test_config_file_settings_apply(capsys, fleet: Path, name: str, text: str) -> None:
    break_fleet(fleet)
    (fleet / name).write_text(text)
    code, out, _ = run(capsys, str(fleet))
    assert code == 0 and "FF202" not in out


# --- formats through the CLI ----------------------------------------------------------------


def _parse_json(text: str) -> list[tuple[str, str]]:
    return [(f["file"], f["rule"]) for f in json.loads(text)["findings"]]


def _parse_junit(text: str) -> list[tuple[str, str]]:
    root = ET.fromstring(text)
    return [(c.get("classname", ""), c.get("name", "").split()[0])
            for c in root.iter("testcase") if c.find("failure") is not None]


def _parse_sarif(text: str) -> list[tuple[str, str]]:
    (run_,) = json.loads(text)["runs"]
    return [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"])
            for r in run_["results"]]


def _parse_github(text: str) -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in re.finditer(
        r"^::error file=([^,]+),line=\d+,col=\d+,title=(FF\d+)::.+$", text, re.M)]


def _parse_text(text: str) -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in re.finditer(r"^(\S+):\d+:\d+ (FF\d+) ", text, re.M)]


@pytest.mark.parametrize(("fmt", "parse"), [
    ("text", _parse_text), ("json", _parse_json), ("junit", _parse_junit),
    ("sarif", _parse_sarif), ("github", _parse_github),
])
def test_each_format_reports_the_finding(capsys, fleet: Path, tmp_path: Path, fmt: str,
                                         parse) -> None:
    break_fleet(fleet)
    expected = [("infrastructure/base/controllers/settings.yaml", "FF202")]
    code, out, err = run(capsys, str(fleet), "--format", fmt)
    assert code == 1
    assert parse(out) == expected
    if fmt != "text":
        assert re.search(r"\d+ files, .* 1 error, 0 warnings in ", err)  # summary on stderr
    report = tmp_path / f"report.{fmt}"
    code, out, err = run(capsys, str(fleet), "--format", fmt, "--output", str(report))
    assert code == 1 and out == ""
    assert parse(report.read_text()) == expected
    assert "1 error" in err


def test_unwritable_output_is_a_usage_error(capsys, rendered_fleet: Path,
                                            tmp_path: Path) -> None:
    code, _, err = run(capsys, str(rendered_fleet), "--output", str(tmp_path / "no" / "x.json"))
    assert code == 2 and "cannot write" in err


# --- pre-commit ---------------------------------------------------------------------------


def test_file_names_validate_the_whole_repository_holding_them(capsys, fleet: Path) -> None:
    subprocess.run(["git", "init", "-q", str(fleet)], check=True)
    break_fleet(fleet)
    other = fleet / "clusters" / "staging" / "infrastructure.yaml"
    assert other.is_file()
    code, out, _ = run(capsys, str(other), str(fleet / "README.md"))
    assert code == 1
    assert "infrastructure/base/controllers/settings.yaml:7:" in out


def test_files_of_two_repositories_are_a_usage_error(capsys, tmp_path: Path) -> None:
    for name in ("a", "b"):
        subprocess.run(["git", "init", "-q", str(tmp_path / name)], check=True)
        (tmp_path / name / "x.yaml").write_text("a: 1\n")
    code, _, err = run(capsys, str(tmp_path / "a" / "x.yaml"), str(tmp_path / "b" / "x.yaml"))
    assert code == 2 and "different repositories" in err


def test_pre_commit_hook_definition() -> None:
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "flux-fleet-validate"]
    assert hook["entry"].split()[:2] == ["flux-fleet", "validate"]
    assert hook["language"] == "python"
    assert re.search(hook["files"], "clusters/staging/apps.yaml")
    assert re.search(hook["files"], "x.yml") and not re.search(hook["files"], "x.json")


# --- hostile input ----------------------------------------------------------------------------

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


@pytest.mark.parametrize(("name", "content", "rule"), [
    ("binary.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "FF103"),
    ("huge.yaml", b"- item\n" * 1_500_000, "FF105"),
    ("bomb.yaml", ALIAS_BOMB.encode(), "FF106"),
    ("deep.yaml", b"a: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "FF106"),
    ("latin1.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n", "FF103"),
    ("conflict.yaml", b"a: 1\n<<<<<<< before updating\nb: 1\n=======\nb: 2\n"
                      b">>>>>>> after updating\n", "FF104"),
    ("tabs.yaml", b"metadata:\n\tname: x\n", "FF101"),
])
def test_garbage_input_is_a_finding_not_a_crash(capsys, tmp_path: Path, name: str,
                                                content: bytes, rule: str) -> None:
    (tmp_path / name).write_bytes(content)
    start = time.perf_counter()
    code, out, _ = run(capsys, str(tmp_path))
    assert time.perf_counter() - start < 30
    assert code == 1
    assert re.search(rf"^{re.escape(name)}:\d+:\d+ {rule} error: ", out, re.M), out


def test_an_empty_directory_is_clean(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, str(tmp_path))
    assert code == 0 and out.strip().splitlines()[-1].startswith("0 files, 0 documents")


# --- kubeconform ----------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubeconform") is not None, reason="kubeconform is on PATH")
def test_kubeconform_missing_is_said_not_pretended(capsys, rendered_fleet: Path) -> None:
    code, out, _ = run(capsys, str(rendered_fleet), "--kubeconform")
    assert code == 0
    assert "kubeconform: not on PATH, skipped" in out


@pytest.mark.skipif(shutil.which("kubeconform") is None, reason="kubeconform not on PATH")
def test_kubeconform_checks_the_built_output(capsys, fleet: Path) -> None:
    code, out, _ = run(capsys, str(fleet), "--kubeconform")
    assert code == 0, out
    assert "kubeconform: checked the output of" in out
    bad = fleet / "infrastructure" / "staging" / "controllers" / "kubeconform-bad.yaml"
    bad.write_text(BAD_CONFIGMAP)
    kus = fleet / "infrastructure" / "staging" / "controllers" / "kustomization.yaml"
    data = yaml.safe_load(kus.read_text())
    data.setdefault("resources", []).append("kubeconform-bad.yaml")
    kus.write_text(yaml.safe_dump(data))
    code, out, _ = run(capsys, str(fleet), "--kubeconform", "--select", "FF701")
    assert code == 1 and "FF701" in out


# --- rules and their docs -------------------------------------------------------------------


def test_rules_lists_every_code(capsys) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == list(available_rules())


def test_rules_docs_are_up_to_date(capsys) -> None:
    """docs/rules.md is generated: regenerate with `flux-fleet rules --docs > docs/rules.md`."""
    assert main(["rules", "--docs"]) == 0
    generated = capsys.readouterr().out
    assert generated == docs_markdown(available_rules().values())
    assert (REPO_ROOT / "docs" / "rules.md").read_text() == generated, (
        "docs/rules.md is stale: run `flux-fleet rules --docs > docs/rules.md`")


def test_every_rule_has_a_docs_anchor_for_its_help_uri() -> None:
    text = docs_markdown(available_rules().values())
    for rule in available_rules().values():
        anchor = rule.help_uri.rsplit("#", 1)[1]
        assert f'<a id="{anchor}"></a>' in text


def test_the_validate_path_never_imports_copier() -> None:
    """Pre-commit runs validate on every commit: copier's import cost stays out of it."""
    code = ("import sys; from flux_fleet.cli import main; rc = main(['validate', sys.argv[1], "
            "'--format', 'json']); assert 'copier' not in sys.modules, 'copier imported'; "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(REPO_ROOT / "docs")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_a_clean_fleet_is_checked_without_importing_jsonschema_or_cel_python(
        rendered_fleet: Path, fleet: Path) -> None:
    """Both cost ~50 ms to import; clean objects pass the compiled checks and the CEL subset,
    so only a run with findings pays for jsonschema (which locates them)."""
    code = ("import sys; from flux_fleet.cli import main; rc = main(['validate', sys.argv[1], "
            "'--format', 'json']); print(sorted(m for m in ('jsonschema', 'celpy') "
            "if m in sys.modules), file=sys.stderr); sys.exit(rc)")

    def imported(root: Path) -> tuple[int, str]:
        proc = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True,
                              text=True, check=False)
        return proc.returncode, proc.stderr.strip().splitlines()[-1]

    assert imported(rendered_fleet) == (0, "[]")
    break_fleet(fleet)
    assert imported(fleet) == (1, "['jsonschema']")


def test_a_run_pauses_the_garbage_collector_and_gives_it_back(rendered_fleet: Path) -> None:
    import gc

    from flux_fleet.validate import validate

    seen: list[bool] = []
    original = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            validate(rendered_fleet)
            seen.append(gc.isenabled())
    finally:
        (gc.enable if original else gc.disable)()
    assert seen == [True, False]
