"""The loader: every document with positions; garbage input is a finding, never a crash."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hang_guard import finishes
from hypothesis import given, settings
from hypothesis import strategies as st
from tree_files import write_tree

from flux_fleet.validate.loader import LoadLimits, discover, load_text, load_tree


def rules(findings) -> list[str]:
    return [f.rule for f in findings]


KUSTOMIZATION = """\
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  path: ./apps/staging
  sourceRef:
    kind: GitRepository
    name: flux-system
  dependsOn:
    - name: infra
    - name: policies
---
# a comment-only document is not an object
---
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
"""


def test_documents_carry_their_position_and_every_key_is_located():
    docs, findings = load_text(KUSTOMIZATION, "clusters/staging/apps.yaml")
    assert findings == []
    assert [d.index for d in docs] == [0, 2]
    first, second = docs
    assert (first.file, first.line, first.column) == ("clusters/staging/apps.yaml", 2, 1)
    assert first.data["spec"]["dependsOn"][1] == {"name": "policies"}
    assert first.positions[("spec", "path")] == (8, 3)
    assert first.positions[("spec", "dependsOn", 1, "name")] == (14, 7)
    assert first.positions[("spec", "dependsOn", 1)] == (14, 7)
    assert first.locate(("spec", "sourceRef", "name")) == (11, 5)
    assert first.locate(("spec", "nothing", "here")) == (7, 1)  # nearest ancestor: spec
    assert second.line == 18 and second.positions[("metadata", "name")] == (20, 12)


def test_scalars_resolve_like_yaml_11_safe_load_but_timestamps_stay_strings():
    text = (
        "a: yes\nb: off\nc: ~\nd: 0x1F\ne: 0o17\nf: 017\ng: 1_000\nh: -.inf\ni: 1:30\n"
        "j: '123'\nk: 2024-01-02\nl: !!str 12\nm: 1e3\nn: 1.0e+3\no:\n"
    )
    (doc,), findings = load_text(text, "x.yaml")
    assert findings == []
    expected = yaml.safe_load(text)
    expected["k"] = "2024-01-02"
    assert doc.data == expected


# Plain-ish text that the YAML 1.1 resolver treats in many ways.
_SCALAR = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["yes", "No", "ON", "null", "~", "0x1f", "0b101", "0755", "1_000", ".5",
                     "-.inf", ".NaN", "1:20", "1.5e+3", "1e3", "+12", "0", "-0", "<<x", "=",
                     "true", "a b", "3.", "_1", "0x_1"]),
    st.text(alphabet="abc01.+-_:eE", min_size=1, max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list("abcdef")), _SCALAR, min_size=1))
def test_any_plain_scalar_loads_as_pyyaml_safe_load_does(values):
    text = "".join(f"{k}: {v}\n" for k, v in values.items())
    try:
        expected = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    (doc,), findings = load_text(text, "x.yaml")
    assert findings == []
    for key, value in expected.items():
        got = doc.data[key]
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got)
        else:
            assert got == value and type(got) is type(value), (key, values[key])


def test_merge_keys_and_repeated_anchors_load_as_go_yaml_does():
    text = (
        "base: &labels {app: web, tier: front}\n"
        "svc:\n  <<: *labels\n  tier: back\n"
        "x: &a first\ny: &a second\nz: *a\n"
        "both:\n  <<: [{p: 1, q: 1}, {p: 2, r: 2}]\n"
    )
    (doc,), findings = load_text(text, "anchors.yaml")
    assert findings == []
    assert doc.data["svc"] == {"app": "web", "tier": "back"}
    assert doc.data["z"] == "second"  # the later definition wins
    assert doc.data["both"] == {"p": 1, "q": 1, "r": 2}


def test_duplicate_key_is_reported_at_the_second_key():
    text = "metadata:\n  name: app\n  labels: {}\n  name: app2\n"
    (doc,), findings = load_text(text, "dup.yaml")
    assert rules(findings) == ["FF102"]
    assert (findings[0].line, findings[0].column) == (4, 3)
    assert "'name'" in findings[0].message
    assert doc.data["metadata"]["name"] == "app2"


def test_tab_indentation_is_a_syntax_finding_with_a_tab_hint():
    docs, findings = load_text("metadata:\n\tname: app\n", "tabs.yaml")
    assert docs == [] and rules(findings) == ["FF101"]
    assert findings[0].line == 2
    assert "spaces" in findings[0].hint


def test_syntax_error_keeps_the_documents_before_it():
    text = "a: 1\n---\nb: [unclosed\n"
    docs, findings = load_text(text, "broken.yaml")
    assert [d.data for d in docs] == [{"a": 1}]
    assert rules(findings) == ["FF101"] and findings[0].line >= 3


def test_unknown_alias_is_a_syntax_finding():
    docs, findings = load_text("a: *nowhere\n", "alias.yaml")
    assert docs == [] and rules(findings) == ["FF101"] and "nowhere" in findings[0].message


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("a: 1\n<<<<<<< before updating\na: 2\n=======\na: 3\n>>>>>>> after updating\n", 2),
        ("a: 1\n=======\n", 2),
        ("a: 1\nb: 2\n>>>>>>> theirs\n", 3),
    ],
)
def test_conflict_markers_are_found_before_parsing(content, line):
    docs, findings = load_text(content, "conflict.yaml")
    assert docs == [] and rules(findings) == ["FF104"] and findings[0].line == line


def test_markers_inside_values_are_not_conflicts():
    (doc,), findings = load_text("a: '<<<<<<< not at line start'\nb: ======= x\n", "ok.yaml")
    assert findings == [] and doc.data["b"] == "======= x"


def test_binary_and_invalid_utf8_are_findings():
    _, binary = load_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "logo.yaml")
    assert rules(binary) == ["FF103"] and "Binary" in binary[0].message
    _, latin1 = load_text(b"a: 1\nname: caf\xe9\n", "latin1.yaml")
    assert rules(latin1) == ["FF103"] and (latin1[0].line, latin1[0].column) == (2, 10)


def test_utf8_bom_is_accepted():
    (doc,), findings = load_text("\ufeffa: 1\n".encode(), "bom.yaml")
    assert findings == [] and doc.data == {"a": 1}


def test_ten_megabyte_file_is_refused_by_size():
    big = "items:\n" + "  - value-with-some-length\n" * 400_000
    assert len(big) > 10_000_000
    docs, findings = finishes(load_text, big, "big.yaml")
    assert docs == [] and rules(findings) == ["FF105"]
    (docs, findings) = load_text(big, "big.yaml", LoadLimits(max_file_bytes=20 * 1024 * 1024))
    assert findings == [] and len(docs[0].data["items"]) == 400_000


def test_billion_laughs_is_stopped_quickly():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    docs, findings = finishes(load_text, "\n".join(lines) + "\n", "bomb.yaml")
    assert docs == [] and rules(findings) == ["FF106"] and "alias" in findings[0].message


def test_modest_alias_reuse_is_fine():
    text = "x: &v [1, 2, 3]\n" + "".join(f"k{i}: *v\n" for i in range(100))
    (doc,), findings = load_text(text, "reuse.yaml")
    assert findings == [] and doc.data["k99"] == [1, 2, 3]


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deep_nesting_is_a_finding_not_a_crash(depth):
    text = "a: " + "[" * depth + "]" * depth + "\n"
    docs, findings = finishes(load_text, text, "deep.yaml")
    assert docs == [] and rules(findings) == ["FF106"]


def test_nesting_within_the_limit_loads():
    depth = 100
    (doc,), findings = load_text("a: " + "[" * depth + "]" * depth + "\n", "ok.yaml")
    value, levels = doc.data["a"], 1
    while value:
        value, levels = value[0], levels + 1
    assert findings == [] and levels == depth


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_discover_honours_gitignore_and_lists_untracked_files(tmp_path):
    repo = write_tree(tmp_path / "repo", {
        ".gitignore": "build/\n*.secret.yaml\n",
        "apps/app.yaml": "a: 1\n",
        "apps/app.yml": "a: 1\n",
        "apps/new.yaml": "a: 1\n",
        "apps/readme.md": "not yaml\n",
        "build/out.yaml": "a: 1\n",
        "db.secret.yaml": "a: 1\n",
    })
    git(repo, "init", "-q")
    git(repo, "add", "apps/app.yaml", "apps/app.yml", ".gitignore")
    assert discover(repo) == ["apps/app.yaml", "apps/app.yml", "apps/new.yaml"]
    (repo / "apps" / "app.yml").unlink()  # tracked but deleted in the work tree
    assert discover(repo) == ["apps/app.yaml", "apps/new.yaml"]


def test_what_git_ignores_is_never_reported_even_when_read_early(tmp_path):
    # the loader parses files while git lists them; ignored ones must vanish without a trace
    files = {f"apps/app{i:02d}.yaml": "a: 1\n" for i in range(30)}
    files.update({".gitignore": "scratch/\n", "scratch/broken.yaml": "a: [\n",
                  "scratch/dup.yaml": "a: 1\na: 2\n"})
    repo = write_tree(tmp_path / "repo", files)
    git(repo, "init", "-q")
    for _ in range(5):
        result = load_tree(repo)
        assert result.findings == []
        assert result.files == 30 and result.discovered == sorted(
            n for n in files if n.startswith("apps/"))


def test_a_tracked_file_behind_a_directory_link_out_of_the_repository_is_not_read(tmp_path):
    outside = write_tree(tmp_path / "elsewhere", {"secret.yaml": "password: hunter2\n"})
    repo = write_tree(tmp_path / "repo", {"apps/secret.yaml": "a: 1\n"})
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    shutil.rmtree(repo / "apps")
    os.symlink(outside, repo / "apps")  # git still lists apps/secret.yaml (in its index)
    result = load_tree(repo)
    assert all("hunter2" not in str(d.data) for d in result.documents)
    assert [(f.rule, f.file) for f in result.findings] == [("FF107", "apps/secret.yaml")]


def test_discover_without_git_walks_the_tree_but_skips_dot_git(tmp_path):
    root = write_tree(tmp_path / "plain", {"a.yaml": "a: 1\n", ".git/config.yaml": "x: 1\n",
                                           "sub/b.yml": "b: 1\n"})
    assert discover(root) == ["a.yaml", "sub/b.yml"]


def test_symlinks_out_of_the_repository_are_never_read(tmp_path):
    outside = write_tree(tmp_path / "elsewhere", {"secret.yaml": "password: hunter2\n"})
    repo = write_tree(tmp_path / "repo", {"apps/app.yaml": "a: 1\n", "apps/real.yaml": "r: 1\n"})
    os.symlink(outside / "secret.yaml", repo / "apps" / "linked.yaml")
    os.symlink(repo / "apps" / "real.yaml", repo / "apps" / "inside.yaml")
    os.symlink(outside, repo / "linked-dir")  # a directory link is not walked into
    assert discover(repo) == ["apps/app.yaml", "apps/inside.yaml", "apps/real.yaml"]
    result = load_tree(repo)
    assert all("hunter2" not in str(d.data) for d in result.documents)
    assert sorted(f.file for f in result.findings if f.rule == "FF107") == [
        "apps/linked.yaml"]
    explicit = load_tree(repo, ["apps/linked.yaml", "apps/app.yaml"])
    assert rules(explicit.findings) == ["FF107"] and explicit.files == 1


def test_load_tree_reads_each_file_once_and_collects_every_problem(tmp_path):
    repo = write_tree(tmp_path / "repo", {
        "clusters/staging/apps.yaml": KUSTOMIZATION,
        "bad/tabs.yaml": "a:\n\tb: 1\n",
        "bad/binary.yaml": b"\x00\x01\x02",
        "bad/conflict.yaml": "<<<<<<< HEAD\na: 1\n",
        "bad/dup.yaml": "a: 1\na: 2\n",
    })
    result = load_tree(repo)
    assert result.files == 5
    assert result.bytes == sum(p.stat().st_size for p in repo.rglob("*.yaml"))
    assert sorted((f.file, f.rule) for f in result.findings) == [
        ("bad/binary.yaml", "FF103"), ("bad/conflict.yaml", "FF104"),
        ("bad/dup.yaml", "FF102"), ("bad/tabs.yaml", "FF101")]
    assert {d.file for d in result.documents} == {"clusters/staging/apps.yaml", "bad/dup.yaml"}


@pytest.mark.parametrize("text", [b"a: [1, 2\n", b"a: [1, 2", b"key: '\n\n\n", b'a: "x\r\n\r\n',
                                  b"a: 1\nb: {c: 1\n"])
def test_ff101_never_points_past_the_last_line(text: bytes) -> None:
    """PyYAML's end-of-stream mark sits after the final newline; a finding there cannot be shown
    by an editor or a code-scanning annotation."""
    _, findings = load_text(text, "x.yaml")
    (f,) = findings
    lines = text.splitlines()
    assert f.rule == "FF101" and 1 <= f.line <= len(lines)
    assert 1 <= f.column <= len(lines[f.line - 1]) + 1
