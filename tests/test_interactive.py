"""A newcomer answering copier's questions at a terminal: every path reaches its prompts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from terminal import run_in_terminal

REPO_ROOT = Path(__file__).resolve().parents[1]
AGE_KEY = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
BIN = Path(sys.executable).parent


def keys_for(question: str) -> str:
    """Accept every default, and give the age key when (and only when) it is asked for."""
    return f"[{AGE_KEY}]\r" if question.startswith("age public keys") else "\r"


@pytest.mark.parametrize("how", ["copier copy", "flux-fleet new"])
def test_turning_sops_on_at_the_prompt_asks_for_the_age_key(tmp_path: Path, how: str) -> None:
    dest = tmp_path / "fleet"
    if how == "copier copy":
        argv = [str(BIN / "copier"), "copy", "--trust", "--data", "sops=true",
                str(REPO_ROOT), str(dest)]
    else:
        argv = [str(BIN / "flux-fleet"), "new", str(dest), "--data", "sops=true"]
    session = run_in_terminal(argv, keys_for)
    assert "Traceback" not in session.output, session.output
    assert session.exit_code == 0, session.output
    assert any(p.startswith("age public keys") for p in session.prompts()), session.prompts()
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["sops_age_recipients"] == [AGE_KEY]
    assert AGE_KEY in (dest / ".sops.yaml").read_text()


def test_the_key_is_still_required_without_a_terminal(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from flux_fleet.cli import main

    assert main(["new", str(tmp_path / "fleet"), "--defaults", "--data", "sops=true"]) == 2
    assert "at least one age public key (age1...) is needed" in capsys.readouterr().err
    assert not (tmp_path / "fleet").exists()


