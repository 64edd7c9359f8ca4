"""Running on untrusted input: a hostile pull request must not make validate read outside the
repository, reach the network, leak what it read, run unbounded, or be silenced by its own
config. Each vector is a small repository with the finding it must give, and its fixed
variant, which must validate clean. Real kustomize, real files, a real local HTTP server.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hang_guard import finishes
from tree_files import write_tree

from flux_fleet.cli import main
from flux_fleet.validate import kustomize
from flux_fleet.validate.suppress import parse

from .conftest import validate

needs_kustomize = pytest.mark.skipif(kustomize.command() is None,
                                     reason="needs kustomize or kubectl")
SECRET = "AUTHTOKEN-7f3a9c-do-not-print"
FORMATS = ("text", "json", "github", "sarif", "junit")
KUS = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\n"


def generator(*files: str) -> str:
    listed = "".join(f"      - {f}\n" for f in files)
    return f"{KUS}configMapGenerator:\n  - name: app\n    namespace: default\n    files:\n{listed}"


def all_formats(repo: Path, tmp: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Everything every report format writes about ``repo``."""
    out = []
    for fmt in FORMATS:
        target = tmp / f"report.{fmt}"
        code = main(["validate", str(repo), "--format", fmt, "-o", str(target)])
        assert code in (0, 1)
        out.append(target.read_text(encoding="utf-8"))
    captured = capsys.readouterr()
    return "\n".join([*out, captured.out, captured.err])


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the repository holding what a CI machine must keep: a secret."""
    folder = tmp_path / "outside"
    write_tree(folder, {"secret.txt": f"token={SECRET}\n", "cm.yaml": CM.replace("app", "stolen")
                        + f"data:\n  token: {SECRET}\n"})
    return folder


# --- the boundary -------------------------------------------------------------------------


@needs_kustomize
def test_generator_reading_git_config_is_refused_and_never_printed(tmp_path, capsys):
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml": generator("../.git/config")})
    (repo / ".git").mkdir()
    (repo / ".git" / "config").write_text(f"[http]\n\textraheader = AUTHORIZATION: {SECRET}\n")
    report = validate(repo)
    assert ("FF304", "app/kustomization.yaml", 7) in report.where()
    assert SECRET not in all_formats(repo, tmp_path, capsys)
    # fixed: the generator reads a file of the repository
    write_tree(repo, {"app/kustomization.yaml": generator("app.properties"),
                      "app/app.properties": "color=blue\n"})
    assert validate(repo).findings == []


@needs_kustomize
def test_symlink_out_of_the_repository_is_not_staged(tmp_path, outside, capsys):
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml": generator("token")})
    (repo / "app" / "token").symlink_to(outside / "secret.txt")
    report = validate(repo)
    assert ("FF304", "app/kustomization.yaml", 7) in report.where()
    assert any("symlink to outside" in f["message"] for f in report.findings)
    assert SECRET not in all_formats(repo, tmp_path, capsys)
    # fixed: a link that stays inside the repository is built like its target
    (repo / "app" / "token").unlink()
    (repo / "config").mkdir()
    (repo / "config" / "token").write_text("token=fine\n")
    (repo / "app" / "token").symlink_to("../config/token")
    assert validate(repo).findings == []


@needs_kustomize
@pytest.mark.parametrize("ref", ["../../outside/cm.yaml", "ABSOLUTE"])
def test_resource_outside_the_repository_is_never_built(tmp_path, outside, capsys, ref):
    ref = str(outside / "cm.yaml") if ref == "ABSOLUTE" else ref
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml": f"{KUS}resources:\n  - {ref}\n",
                                          "app/cm.yaml": CM})
    report = validate(repo)
    assert ("FF304", "app/kustomization.yaml", 4) in report.where()
    assert SECRET not in all_formats(repo, tmp_path, capsys)
    write_tree(repo, {"app/kustomization.yaml": f"{KUS}resources:\n  - cm.yaml\n"})
    assert validate(repo).findings == []


@needs_kustomize
def test_symlinked_folder_out_of_the_repository_is_refused(tmp_path, outside, capsys):
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml":
                                          f"{KUS}resources:\n  - vendor/cm.yaml\n"})
    (repo / "app" / "vendor").symlink_to(outside, target_is_directory=True)
    report = validate(repo)
    assert ("FF304", "app/kustomization.yaml", 4) in report.where()
    assert SECRET not in all_formats(repo, tmp_path, capsys)
    # fixed: the linked folder is inside the repository
    (repo / "app" / "vendor").unlink()
    write_tree(repo, {"shared/cm.yaml": CM})
    (repo / "app" / "vendor").symlink_to("../shared", target_is_directory=True)
    assert validate(repo).findings == []


# --- no network ---------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request it gets."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(CM.encode())

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


@needs_kustomize
def test_remote_base_in_a_file_named_Kustomization_is_skipped_not_fetched(tmp_path, server):
    url, seen = server
    repo = write_tree(tmp_path / "repo",
                      {"app/Kustomization": f"{KUS}resources:\n  - {url}/cm.yaml\n"})
    report = validate(repo, "--show-skipped")
    assert any(s["what"] == "remote-base" and s["file"] == "app/Kustomization"
               for s in report.skipped), report.skipped
    assert seen == []
    write_tree(repo, {"app/Kustomization": f"{KUS}resources:\n  - cm.yaml\n", "app/cm.yaml": CM})
    assert validate(repo).findings == []


@needs_kustomize
@pytest.mark.parametrize("scheme", ["http", "git"])
def test_kustomize_itself_cannot_reach_the_network(tmp_path, server, scheme):
    """The safety net under detection: a build asked to fetch gets no connection at all."""
    url, seen = server
    ref = f"{url}/cm.yaml" if scheme == "http" else f"git::{url}/repo.git//app?ref=main"
    write_tree(tmp_path, {"kustomization.yaml": f"{KUS}resources:\n  - {ref}\n"})
    with pytest.raises(kustomize.KustomizeError):
        kustomize.build(tmp_path, timeout=60)
    assert seen == []


def test_kustomize_runs_with_a_memory_limit_and_no_network(tmp_path, monkeypatch):
    """Through a ``kustomize`` on PATH that reports the limits it was started with."""
    if not shutil.which("sh"):
        pytest.skip("needs sh")
    shim = write_tree(tmp_path / "bin", {"kustomize": (
        "#!/bin/sh\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: limits\\n"
        "data:\\n  as: \"%s\"\\n  links: \"%s\"\\n' \"$(ulimit -v)\" "
        "\"$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')\"\n"),
    }) / "kustomize"
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    out = kustomize.build(tmp_path)
    assert f'as: "{kustomize.MEMORY_LIMIT // 1024}"' in out
    if kustomize.isolation():
        assert 'links: "lo "' in out  # a network namespace of its own: loopback only


# --- bounded work -------------------------------------------------------------------------


def bomb() -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n" + "".join(
        f"  {line}\n" for line in lines)


@needs_kustomize
def test_alias_bomb_is_not_handed_to_kustomize(tmp_path):
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml":
                                          f"{KUS}resources:\n  - bomb.yaml\n",
                                          "app/bomb.yaml": bomb()})
    report = finishes(validate, repo)
    assert "FF106" in report.rules()
    assert ("FF305", "app/kustomization.yaml", 4) in report.where()
    assert "FF301" not in report.rules()
    write_tree(repo, {"app/bomb.yaml": CM})
    assert validate(repo).findings == []


@needs_kustomize
def test_fifo_listed_as_a_resource_is_never_opened(tmp_path):
    repo = write_tree(tmp_path / "repo", {"app/kustomization.yaml":
                                          f"{KUS}resources:\n  - pipe.yaml\n"})
    os.mkfifo(repo / "app" / "pipe.yaml")
    report = finishes(validate, repo)
    assert ("FF304", "app/kustomization.yaml", 4) in report.where()
    (repo / "app" / "pipe.yaml").unlink()
    write_tree(repo, {"app/pipe.yaml": CM})
    assert validate(repo).findings == []


@pytest.mark.parametrize("name", [
    "clusters/dev/flux-system/gotk-components.yaml",  # read for the pinned Flux version
    "apps/.sourceignore",  # read for the artifact's ignore patterns
])
def test_fifo_where_the_validator_reads_a_header_is_never_opened(tmp_path, name):
    repo = write_tree(tmp_path / "repo", {"apps/cm.yaml": CM})
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(repo / name)
    report = finishes(validate, repo)
    assert report.findings == []


# --- suppressions and config --------------------------------------------------------------


@pytest.mark.parametrize("text", [
    'data:\n  note: "# flux-fleet: ignore-file"\n',
    "data:\n  note: '# flux-fleet: ignore-file'\n",
    "data:\n  note: |\n    # flux-fleet: ignore-file\n",
    "data:\n  note: a # flux-fleet: ignore-file is text in a plain scalar? no: a comment\n",
])
def test_only_real_comments_suppress(text):
    sup = parse(text)
    if "plain scalar" in text:
        assert sup.file_codes  # after a space, '#' starts a comment even in a plain value
    else:
        assert not sup.file_codes and not sup.line_codes
    assert parse("# flux-fleet: ignore-file\n" + text).file_codes == {"*"}


def usage_error(capsys, *args: str) -> str:
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err and "internal error" not in err
    return err


@pytest.mark.parametrize("kind", ["folder", "fifo", "two-documents", "link-out"])
def test_config_file_that_is_not_one_mapping_is_a_usage_error(tmp_path, capsys, outside, kind):
    repo = write_tree(tmp_path / "repo", {"cm.yaml": CM})
    cfg = repo / ".flux-fleet.yaml"
    if kind == "folder":
        cfg.mkdir()
    elif kind == "fifo":
        os.mkfifo(cfg)
    elif kind == "two-documents":
        cfg.write_text("strict: true\n---\nignore: [FF5]\n")
    else:
        cfg.symlink_to(outside / "secret.txt")
    err = finishes(usage_error, capsys, str(repo))
    assert ".flux-fleet.yaml:" in err and SECRET not in err
    cfg.unlink() if not cfg.is_dir() or cfg.is_symlink() else cfg.rmdir()
    cfg.write_text("strict: true\n")
    assert main(["validate", str(repo)]) == 0


@pytest.mark.parametrize("tenant", [False, True])
def test_excluding_every_file_is_not_clean(tmp_path, capsys, tenant):
    repo = write_tree(tmp_path / "repo", {"cm.yaml": CM, ".flux-fleet.yaml": "exclude: ['**']\n"})
    err = usage_error(capsys, str(repo), *(["--tenant"] if tenant else []))
    assert "exclude" in err
    write_tree(repo, {".flux-fleet.yaml": "exclude: ['vendor/**']\n"})
    assert main(["validate", str(repo), *(["--tenant"] if tenant else [])]) == 0


def test_repository_config_cannot_switch_tenancy_rules_off_under_tenant(tmp_path, capsys):
    repo = write_tree(tmp_path / "repo", {"cm.yaml": CM, ".flux-fleet.yaml": "ignore: [FF5]\n"})
    err = usage_error(capsys, str(repo), "--tenant")
    assert "FF508" in err and "--tenant" in err
    assert main(["validate", str(repo)]) == 0  # without --tenant the repository decides
    write_tree(repo, {".flux-fleet.yaml": "ignore: [FF402]\n"})
    assert main(["validate", str(repo), "--tenant"]) == 0


def test_unreadable_folder_is_a_located_usage_error(capsys):
    """As root nothing is unreadable: then the CLI runs as nobody (setpriv), in a fresh process
    (in a folder of its own under the system temp dir, which nobody can reach)."""
    import subprocess
    import sys
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="flux-fleet-unreadable-"))
    home.chmod(0o755)
    repo = write_tree(home / "repo", {"ok/cm.yaml": CM, "locked/cm.yaml": CM})
    (repo / "locked").chmod(0)
    try:
        if os.geteuid() != 0:
            err = usage_error(capsys, str(repo))
        elif shutil.which("setpriv"):
            done = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534",
                                   "--clear-groups", sys.executable, "-m", "flux_fleet",
                                   "validate", str(repo)], capture_output=True, text=True,
                                  timeout=120, check=False)
            assert done.returncode == 2, done
            err = done.stderr
            assert "Traceback" not in err
        else:
            pytest.skip("running as root without setpriv: cannot make a folder unreadable")
    finally:
        (repo / "locked").chmod(0o755)
    try:
        assert "locked/: cannot read folder" in err
        assert main(["validate", str(repo)]) == 0
    finally:
        shutil.rmtree(home)
