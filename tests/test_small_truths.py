"""What the fleet and the CLI tell a newcomer is true: comments, help texts, skip messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
import yaml
from tree_files import write_tree

from flux_fleet.cli import cli, main
from flux_fleet.validate.config import Config

AGE_KEY = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("truths") / "fleet"
    assert main(["new", str(dest), "--defaults", "--no-git", "--data", "sops=true",
                 "--data", f"sops_age_recipients=[{AGE_KEY}]"]) == 0
    return dest


def test_gotk_sync_says_what_bootstrap_writes(fleet: Path) -> None:
    """flux bootstrap <provider> writes an ssh:// url (deploy key) unless --token-auth
    (fluxcd.io/flux/cmd/flux_bootstrap_github: "--token-auth ... instead of the SSH deploy key")."""
    for sync in fleet.glob("clusters/*/flux-system/gotk-sync.yaml"):
        comment = sync.read_text().split("---", 1)[0]
        assert "same content" not in comment
        assert "ssh://" in comment and "--token-auth" in comment


def test_sops_comment_names_the_secrets_the_manifests_use(fleet: Path) -> None:
    comment = (fleet / ".sops.yaml").read_text()
    used: set[tuple[str, str]] = set()
    for path in fleet.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            ref = ((doc or {}).get("spec") or {}).get("decryption", {}).get("secretRef") \
                if isinstance(doc, dict) else None
            if ref:
                used.add((doc["metadata"]["namespace"], ref["name"]))
    assert ("flux-system", "sops-age") in used
    assert "flux-system/sops-age" in comment
    tenants = {(ns, name) for ns, name in used if ns != "flux-system"}
    assert tenants, "the default fleet has a tenant that decrypts"
    for _ns, name in tenants:
        tenant = name.removesuffix("-sops-age")
        assert name == f"{tenant}-sops-age" and "<tenant>-sops-age" in comment


def test_vcs_ref_without_template_is_refused_with_the_versions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "out"
    assert main(["new", str(dest), "--defaults", "--no-git", "--vcs-ref", "no-such-ref"]) == 2
    err = capsys.readouterr().err
    assert "--vcs-ref no-such-ref" in err and "known versions:" in err
    assert not dest.exists()
    assert main(["new", "--help"]) == 0
    assert "without --template" in " ".join(capsys.readouterr().out.split())


def test_validate_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--help"]) == 0
    help_text = capsys.readouterr().out
    exits = help_text.split("Exit status:", 1)[1].split("Options:", 1)[0]
    assert re.findall(r"(?:^|,|:)\s*([0-9]) ", exits, re.M) == ["0", "1", "2", "3"]


def test_skip_messages_name_only_real_options_and_settings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A single-tenant tree gets the tenancy skip: every --option and snake_case setting it
    names exists (there is no ``tenant_mode`` setting)."""
    root = write_tree(tmp_path, {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                                                "metadata: {name: a, namespace: a}\n"})
    main(["validate", str(root), "--no-build", "--format", "json", "--show-skipped"])
    report = json.loads(capsys.readouterr().out)
    reasons = [s["reason"] for s in report["skipped"]]
    assert any("tenancy" in r for r in reasons)
    validate = cli.get_command(click.Context(cli), "validate")
    assert validate is not None
    options = {o for p in validate.params for o in (*p.opts, *p.secondary_opts)}
    settings = set(Config.__dataclass_fields__)
    for reason in reasons:
        for option in re.findall(r"--[a-z][a-z-]+", reason):
            assert option in options, (option, reason)
        for word in re.findall(r"\b[a-z]+_[a-z_]+\b", reason):
            assert word in settings, (word, reason)
