"""Settings come from .flux-fleet.yaml or [tool.flux-fleet]; the command line wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_fleet.errors import UserError
from flux_fleet.validate.config import Config, Overrides, check_codes, load_config, merge


def test_no_config_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path) == Config()


def test_settings_are_read_from_flux_fleet_yaml(tmp_path: Path) -> None:
    (tmp_path / ".flux-fleet.yaml").write_text(
        "ignore: [FF402]\nstrict: true\njobs: 3\nexclude:\n  - vendor/**\n"
        "allowed-source-prefixes: [https://git.example.com/]\n")
    config = load_config(tmp_path)
    assert config.ignore == ("FF402",)
    assert config.strict is True and config.jobs == 3
    assert config.allowed_source_prefixes == ("https://git.example.com/",)
    assert config.excluded("vendor/chart/values.yaml")
    assert not config.excluded("clusters/staging/apps.yaml")
    assert config.source == ".flux-fleet.yaml"


def test_settings_are_read_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.flux-fleet]\nselect = ["FF4", "FF5"]\ntenant = true\n')
    config = load_config(tmp_path)
    assert config.select == ("FF4", "FF5") and config.tenant is True


def test_pyproject_without_our_table_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.ruff]\nline-length = 100\n')
    assert load_config(tmp_path) == Config()


def test_yaml_file_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flux-fleet]\nstrict = true\n')
    (tmp_path / ".flux-fleet.yaml").write_text("strict: false\n")
    assert load_config(tmp_path).strict is False


def test_unknown_setting_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / ".flux-fleet.yaml").write_text("strict: true\nignroe: [FF402]\n")
    with pytest.raises(UserError) as err:
        load_config(tmp_path)
    assert err.value.problems[0].startswith(".flux-fleet.yaml:2:1: unknown setting 'ignroe'")


@pytest.mark.parametrize(("text", "problem"), [
    ("strict: yes-please\n", "must be true or false"),
    ("jobs: -1\n", "whole number"),
    ("select: [1, 2]\n", "list of strings"),
])
def test_wrong_types_are_located_errors(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / ".flux-fleet.yaml").write_text(text)
    with pytest.raises(UserError) as err:
        load_config(tmp_path)
    assert err.value.problems[0].startswith(".flux-fleet.yaml:1:1:")
    assert problem in err.value.problems[0]


def test_broken_yaml_config_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / ".flux-fleet.yaml").write_text("ignore: [FF402\n")
    with pytest.raises(UserError, match=r"^\.flux-fleet\.yaml:1:\d+: YAML syntax error"):
        load_config(tmp_path)


def test_broken_toml_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flux-fleet]\nstrict = \n')
    with pytest.raises(UserError, match=r"pyproject.toml: invalid TOML: .*line 2"):
        load_config(tmp_path)


def test_config_must_be_a_mapping(tmp_path: Path) -> None:
    (tmp_path / ".flux-fleet.yaml").write_text("- FF402\n")
    with pytest.raises(UserError, match="must be a mapping"):
        load_config(tmp_path)


@pytest.mark.parametrize(("select", "ignore", "code", "enabled"), [
    ((), (), "FF401", True),
    (("FF4",), (), "FF401", True),
    (("FF4",), (), "FF501", False),
    ((), ("FF401",), "FF401", False),
    ((), ("FF4",), "FF402", False),
    (("FF402",), ("FF4",), "FF402", True),  # the more specific selection wins
    (("FF4",), ("FF402",), "FF402", False),
    (("FF4",), ("FF402",), "FF403", True),
])
def test_select_and_ignore_by_code_or_prefix(select: tuple[str, ...], ignore: tuple[str, ...],
                                             code: str, enabled: bool) -> None:
    assert Config(select=select, ignore=ignore).enabled(code) is enabled


def test_command_line_wins_and_ignore_adds_up() -> None:
    file_config = Config(ignore=("FF402",), strict=True, jobs=2)
    merged = merge(file_config, Overrides(ignore=("FF501",), strict=None, jobs=4))
    assert merged.ignore == ("FF402", "FF501")
    assert merged.strict is True and merged.jobs == 4
    assert merge(file_config, Overrides(select=("FF1",))).select == ("FF1",)


def test_unknown_rule_codes_are_a_usage_error() -> None:
    check_codes(Config(select=("FF4",), ignore=("FF401",)), ["FF401", "FF402"])
    with pytest.raises(UserError, match="unknown rule code: FF999"):
        check_codes(Config(ignore=("FF999",)), ["FF401"])
