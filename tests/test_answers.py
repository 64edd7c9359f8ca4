# ruff: noqa: E501 - the table of bad answers reads best one case per line
"""Bad answers are caught before Copier runs: one human line per problem, exit 2, no DEST."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_fleet import resources
from flux_fleet.cli import main
from flux_fleet.scaffold import answers
from flux_fleet.scaffold.render import Questionnaire, prevalidate

GOOD_TENANT = "{name: web, repo_url: 'https://github.com/example-org/web'}"


def defaults(**data: object) -> dict[str, object]:
    resolved, problems = Questionnaire(resources.template_dir()).resolve(data)
    assert problems == []
    return resolved


def test_defaults_come_from_copier_yml_and_are_valid() -> None:
    resolved = defaults()
    assert answers.validate(resolved) == []
    assert resolved["flux_version"] == "v2.9.4"
    assert [c["name"] for c in resolved["clusters"]] == ["staging", "production"]
    assert resolved["tenants"][0]["name"] == "dev-team"
    assert resolved["tenants"][0]["paths"] == {"staging": "./staging", "production": "./production"}
    assert resolved["envs"] == ["staging", "production"]
    assert set(answers.ANSWER_KEYS) <= set(resolved)


def test_defaults_follow_earlier_answers_as_copier_renders_them() -> None:
    resolved = defaults(git_provider="gitlab", fleet_name="acme",
                        clusters=[{"name": "one", "env": "dev"}])
    assert resolved["repo_url"] == "https://gitlab.com/example-org/acme"
    assert resolved["tenants"][0]["repo_url"] == "https://gitlab.com/example-org/dev-team"
    assert resolved["tenants"][0]["paths"] == {"dev": "./dev"}
    assert resolved["tenant_specs"][0]["clusters"] == ["one"]


@pytest.mark.parametrize(("data", "message"), [
    ({"tenants": "[{name: web, repo_url: 'https://github.com/example-org/web'}, {name: Dev_Team}]"},
     "tenants[1].name 'Dev_Team': not a DNS-1123 label (lower-case letters, digits, '-')"),
    ({"tenants": f"[{GOOD_TENANT}, {GOOD_TENANT}]"},
     "tenants[1].name 'web': duplicate name (also tenants[0])"),
    ({"clusters": "[{name: a}, {name: a}]"}, "clusters[1].name 'a': duplicate name (also clusters[0])"),
    ({"tenants": "[{name: web, repo_url: 'https://github.com/example-org/web', clusters: [prod]}]"},
     "tenants[0].clusters[0] 'prod': unknown cluster (known: staging, production)"),
    ({"tenants": "[{name: flux-system, repo_url: 'https://github.com/example-org/x'}]"},
     "tenants[0].name 'flux-system': reserved name (flux-system, default and kube-* belong to"),
    ({"tenants": "[{name: web, namespaces: [kube-public], repo_url: 'https://github.com/example-org/x'}]"},
     "tenants[0].namespaces[0] 'kube-public': reserved name"),
    ({"clusters": "[{name: default}]"}, "clusters[0].name 'default': reserved name"),
    ({"tenants": "[{name: web, repo_url: 'https://github.com/example-org/web', paths: {staging: ../../etc}}]"},
     "tenants[0].paths.staging '../../etc': must stay inside the tenant repo (no '..', no absolute path)"),
    ({"tenants": f"[{{name: {'t' * 57}, repo_url: 'https://github.com/example-org/web'}}]"},
     f"tenants[0].name '{'t' * 57}': longer than 56 characters (each cluster applies it as "
     "Kustomization tenant-<name>, at most 63)"),
    ({"tenants": "[{name: web, repo_url: 'https://github.com/example-org/web', "
                 "paths: {staging: './a: b'}}]"},
     "tenants[0].paths.staging './a: b': only letters, digits, '.', '_', '-' and '/'"),
    ({"clusters": "[{name: base}]"},
     "clusters[0].name 'base': reserved name (infrastructure/base and policies/base hold"),
    ({"clusters": "[{name: 'a/b'}]"},
     "clusters[0].name 'a/b': not a DNS-1123 label (lower-case letters, digits, '-')"),
    ({"repo_url": "github.com/example-org/fleet"},
     "repo_url 'github.com/example-org/fleet': not a Git repository URL"),
    ({"tenants": "[{name: web, repo_url: 'ftp://example.org/x/y'}]"},
     "tenants[0].repo_url 'ftp://example.org/x/y': not a Git repository URL"),
    ({"tenants": "[{name: web}]"}, "tenants[0].repo_url: missing (the tenant's Git repository URL)"),
    ({"flux_version": "2.9"}, "flux_version '2.9': not a Flux v2 release like v2.9.4"),
    ({"branch": "a..b"}, "branch 'a..b': not a valid Git branch name"),
    ({"sops": "true"}, "sops_age_recipients: at least one age public key (age1...) is needed"),
    ({"allowed_source_prefixes": "[https://gitlab.com/other/]"},
     "tenants[0].repo_url 'https://github.com/example-org/dev-team': outside allowed_source_prefixes"),
    ({"clusters": "{name: a}"}, "clusters: must be a YAML list of {name, context, env}"),
    ({"tenants": "[{name: web, repo_url: 'https://github.com/example-org/web', teams: [x]}]"},
     "tenants[0]: unknown key 'teams'"),
    ({"fleet_nmae": "x"}, "fleet_nmae: not a question of this template"),
])
def test_each_bad_answer_is_named_and_nothing_is_rendered(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, str],
        message: str) -> None:
    dest = tmp_path / "fleet"
    args = ["new", str(dest), "--defaults"]
    for key, value in data.items():
        args += ["--data", f"{key}={value}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not dest.exists()


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(answers_error()) as info:
        prevalidate({"fleet_name": "Bad Name", "clusters": "[{name: X}]", "branch": ""})
    problems = info.value.problems
    assert any(p.startswith("fleet_name 'Bad Name'") for p in problems)
    assert any(p.startswith("clusters[0].name 'X'") for p in problems)
    assert any(p.startswith("branch ''") for p in problems)


def answers_error() -> type[Exception]:
    from flux_fleet.errors import UserError
    return UserError


def test_answers_model_fills_optional_tenant_fields() -> None:
    fleet = answers.FleetAnswers.of(defaults(
        tenants=[{"name": "web", "repo_url": "https://github.com/example-org/web"}]))
    tenant = fleet.tenants[0]
    assert tenant.namespaces == ("web",) and tenant.namespace == "web"
    assert tenant.role == "admin" and tenant.branch == "main"
    assert tenant.clusters == ("staging", "production")
    assert tenant.paths == {"staging": "./staging", "production": "./production"}
    assert fleet.envs == ("staging", "production")


@pytest.mark.parametrize(("data", "message"), [
    ({"tenants": [{"name": "t" * 57, "repo_url": "https://github.com/example-org/web"}]},
     f"tenants[0].name '{'t' * 57}': longer than 56 characters (each cluster applies it as Kustomization tenant-<name>, at most 63)"),
    ({"tenants": [{"name": "web", "repo_url": "https://github.com/example-org/web", "paths": {"staging": "./a b"}}]},
     "tenants[0].paths.staging './a b': only letters, digits, '.', '_', '-' and '/' (Flux substitutes it into the tenant's Kustomization as ${tenant_path})"),
    ({"clusters": [{"name": "base"}]},
     "clusters[0].name 'base': reserved name (infrastructure/base and policies/base hold what every cluster shares)"),
])
def test_copier_alone_refuses_the_same_answers_in_the_same_words(
        tmp_path: Path, data: dict[str, object], message: str) -> None:
    """Without flux-fleet (plain `copier copy`), the template's own validators are the backstop."""
    import shutil

    import copier

    template = tmp_path / "template"  # a plain folder: no git, so Copier renders it as it is
    template.mkdir()
    shutil.copy2(resources.template_dir() / "copier.yml", template / "copier.yml")
    shutil.copytree(resources.template_dir() / "template", template / "template")
    with pytest.raises(ValueError, match="Validation error") as info:
        copier.run_copy(str(template), tmp_path / "fleet", data=data, defaults=True, quiet=True,
                        unsafe=False)
    assert message in str(info.value)
    problems = answers.validate({**defaults(), **data})
    assert message in problems
