"""The CI each fleet and tenant repo is rendered with is the CI docs/validate.md recommends.

Workflows are read as data (the steps a runner would execute), linted against the providers'
schemas that check-jsonschema ships (offline), and the generic script is run for real.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from flux_fleet.cli import main

BIN = Path(sys.executable).parent
PROVIDERS = {
    "github": "https://github.com/example-org/fleet",
    "gitea": "https://gitea.example.com:3000/example-org/fleet",
    "gitlab": "https://gitlab.com/example-org/fleet",
    "bitbucket-server": "https://bitbucket.example.com/scm/plat/fleet.git",
    "git": "ssh://git@git.example.com/example-org/fleet.git",
}
CI_FILE = {"github": ".github/workflows/validate.yaml", "gitea": ".gitea/workflows/validate.yaml",
           "gitlab": ".gitlab-ci.yml", "bitbucket-server": "ci/flux-fleet-validate.sh",
           "git": "ci/flux-fleet-validate.sh"}
SCHEMA = {"github": "vendor.github-workflows", "gitea": "vendor.github-workflows",
          "gitlab": "vendor.gitlab-ci"}
PINNED_KUSTOMIZE = re.compile(r"kustomize%2Fv5\.\d+\.\d+/kustomize_v5\.\d+\.\d+_linux_amd64")


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """For each provider, a fleet and the repo of its tenant dev-team (branch `release`)."""
    root = tmp_path_factory.mktemp("ci")
    out: dict[tuple[str, str], Path] = {}
    for provider, url in PROVIDERS.items():
        fleet = root / provider / "fleet"
        tenants = ("[{name: dev-team, branch: release, repo_url: "
                   f"'{url.rsplit('/', 1)[0]}/dev-team'}}]")
        assert main(["new", str(fleet), "--defaults", "--data", f"git_provider={provider}",
                     "--data", f"repo_url={url}", "--data", f"tenants={tenants}"]) == 0
        tenant = root / provider / "dev-team"
        assert main(["new", str(tenant), "--defaults", "--data-file",
                     str(fleet / ".copier-answers.yml"), "--data", "repo_kind=tenant",
                     "--data", "tenant_name=dev-team"]) == 0
        out[(provider, "platform")], out[(provider, "tenant")] = fleet, tenant
    return out


def ci_files(repo: Path) -> list[str]:
    candidates = {*CI_FILE.values()}
    return sorted(p for p in candidates if (repo / p).is_file())


def pinned_rev(repo: Path) -> str:
    return yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())["repos"][0]["rev"]


@pytest.mark.parametrize("kind", ["platform", "tenant"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_every_repo_gets_exactly_its_providers_ci(repos, provider: str, kind: str) -> None:
    assert ci_files(repos[(provider, kind)]) == [CI_FILE[provider]]


@pytest.mark.parametrize("kind", ["platform", "tenant"])
@pytest.mark.parametrize("provider", ["github", "gitea"])
def test_actions_workflow_annotates_pins_caches_and_has_least_privilege(
        repos, provider: str, kind: str) -> None:
    repo = repos[(provider, kind)]
    wf: dict[Any, Any] = yaml.safe_load((repo / CI_FILE[provider]).read_text())
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as true
    assert on["push"]["branches"] == ["release" if kind == "tenant" else "main"]
    assert "pull_request" in on
    assert wf["permissions"] == {"contents": "read"}
    job = wf["jobs"]["validate"]
    steps = job["steps"]
    uses = [s.get("uses", "") for s in steps]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "actions/checkout@v4" in uses and any(u.startswith("actions/cache@") for u in uses)
    assert PINNED_KUSTOMIZE.search(runs)
    assert f"git+https://github.com/flux-fleet/flux-fleet@{pinned_rev(repo)}\"" in runs
    assert "flux-fleet validate . --format github" in runs
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert pinned_rev(repo) in cache["with"]["key"]
    if provider == "github":
        assert job["permissions"] == {"contents": "read", "security-events": "write"}
        upload = next(s for s in steps if s.get("uses", "").startswith(
            "github/codeql-action/upload-sarif@"))
        assert upload["if"] == "always()" and upload["with"]["sarif_file"] == "flux-fleet.sarif"
        assert "--format sarif --output flux-fleet.sarif" in runs
    else:  # Gitea has no code scanning: no SARIF, no extra token scope
        assert "permissions" not in job
        assert not any("codeql" in u for u in uses)


@pytest.mark.parametrize("kind", ["platform", "tenant"])
def test_gitlab_job_reports_junit_and_pins_kustomize(repos, kind: str) -> None:
    repo = repos[("gitlab", kind)]
    job = yaml.safe_load((repo / ".gitlab-ci.yml").read_text())["validate"]
    script = "\n".join(job["before_script"] + job["script"])
    assert "stable.txt" not in script, "never the latest kubectl on every run"
    assert PINNED_KUSTOMIZE.search(script)
    assert "--format junit --output flux-fleet.junit.xml" in script
    assert job["artifacts"] == {"when": "always", "reports": {"junit": "flux-fleet.junit.xml"}}
    assert pinned_rev(repo) in job["cache"]["key"]
    assert {"if": f'$CI_COMMIT_BRANCH == "{"release" if kind == "tenant" else "main"}"'} \
        in job["rules"]


@pytest.mark.parametrize("kind", ["platform", "tenant"])
@pytest.mark.parametrize("provider", ["github", "gitea", "gitlab"])
def test_rendered_workflows_lint_clean(repos, provider: str, kind: str) -> None:
    lint = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    if lint is None:
        pytest.skip("check-jsonschema missing: pip install -e '.[test]'")
    path = repos[(provider, kind)] / CI_FILE[provider]
    out = subprocess.run([lint, "--builtin-schema", SCHEMA[provider], str(path)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("kind", ["platform", "tenant"])
def test_generic_script_validates_and_writes_junit(repos, tmp_path: Path, kind: str) -> None:
    """Run as a Jenkins/Bamboo step would, with the pinned tools already in its cache."""
    repo = repos[("git", kind)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    cache = tmp_path / "cache"
    (cache / "bin").mkdir(parents=True)
    kustomize = shutil.which("kustomize") or shutil.which("kubectl")
    assert kustomize, "kustomize or kubectl is needed"
    wrapper = cache / "bin" / "kustomize"  # the cached kustomize (`kubectl kustomize` here)
    wrapper.write_text(f"#!/bin/sh\nshift\nexec {kustomize} kustomize \"$@\"\n"
                       if kustomize.endswith("kubectl") else
                       f"#!/bin/sh\nexec {kustomize} \"$@\"\n")
    wrapper.chmod(0o755)
    venv_bin = cache / f"venv-{pinned_rev(repo)}" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "flux-fleet").symlink_to(BIN / "flux-fleet")
    env = {**os.environ, "FLUX_FLEET_CACHE": str(cache)}
    out = subprocess.run(["sh", str(repo / "ci" / "flux-fleet-validate.sh")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    report = (repo / "flux-fleet.junit.xml").read_text()
    assert report.startswith("<?xml") and "<testsuites" in report
