"""The exact ``flux bootstrap <provider>`` command for one cluster of a rendered fleet.

Mirrors the ``bootstrap`` macro in ``template/_shared/macros.jinja`` (the fleet README lists the
same commands; a test keeps the two in step).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flux_fleet.errors import UserError
from flux_fleet.scaffold.answers import FleetAnswers, validate

ANSWERS_FILE = ".copier-answers.yml"
DEFAULT_HOSTS = {"github": "github.com", "gitlab": "gitlab.com"}
IMAGE_COMPONENTS = "image-reflector-controller,image-automation-controller"
_URL = re.compile(r"^(?P<scheme>[a-z+]+)://(?:(?P<user>[^@/]+)@)?(?P<host>[^/:]+)(?::(?P<port>[0-9]+))?"
                  r"/(?P<path>.*?)(?:\.git)?/?$")


@dataclass(frozen=True)
class RepoLocation:
    """Where the fleet repo lives, as ``flux bootstrap <provider>`` wants it."""

    host: str
    owner: str
    repository: str
    user: str = ""
    port: str = ""
    scheme: str = "https"

    @property
    def hostname(self) -> str:
        """``--hostname``: the API/HTTPS host, with the port when the URL is an https one."""
        return f"{self.host}:{self.port}" if self.port and self.scheme != "ssh" else self.host

    @property
    def ssh_hostname(self) -> str:
        """``--ssh-hostname`` when SSH listens on its own port (flux's flag for "the SSH host
        differs from the HTTPS one"), else empty."""
        return f"{self.host}:{self.port}" if self.port and self.scheme == "ssh" else ""

    @classmethod
    def parse(cls, url: str, provider: str) -> RepoLocation:
        match = _URL.match(url)
        if not match or "/" not in match["path"]:
            raise UserError(f"repo_url '{url}': cannot tell owner and repository apart",
                            hint="use https://host/owner/repo")
        segments = match["path"].split("/")
        if provider == "bitbucket-server" and segments[0] == "scm":
            segments = segments[1:]
        return cls(match["host"], "/".join(segments[:-1]), segments[-1], match["user"] or "",
                   match["port"] or "", match["scheme"])


def bootstrap_argv(fleet: FleetAnswers, cluster_name: str, *, personal: bool = False,
                   username: str | None = None) -> list[str]:
    """argv of ``flux bootstrap`` for ``cluster_name``; UserError listing clusters if unknown."""
    cluster = fleet.cluster(cluster_name)
    if cluster is None:
        known = ", ".join(c.name for c in fleet.clusters) or "none"
        raise UserError(f"unknown cluster '{cluster_name}' (known: {known})",
                        hint="pass one of the fleet's cluster names")
    provider = fleet.git_provider
    if provider == "git":
        argv = ["flux", "bootstrap", "git", f"--url={fleet.repo_url}"]
        if username:
            argv.append(f"--username={username}")
    else:
        repo = RepoLocation.parse(fleet.repo_url, provider)
        argv = ["flux", "bootstrap", provider]
        if DEFAULT_HOSTS.get(provider) != repo.hostname:
            argv.append(f"--hostname={repo.hostname}")
        if repo.ssh_hostname:
            argv.append(f"--ssh-hostname={repo.ssh_hostname}")
        argv += [f"--owner={repo.owner}", f"--repository={repo.repository}"]
        if provider == "bitbucket-server":
            argv.append(f"--username={username or repo.user or 'git'}")
    argv += [f"--branch={fleet.branch}", f"--path=clusters/{cluster.name}",
             f"--context={cluster.context}", f"--version={fleet.flux_version}"]
    if provider != "git":
        # Read-only deploy key (Flux's default) unless image automation must push to the repo.
        argv.append(f"--read-write-key={'true' if fleet.image_automation else 'false'}")
        if personal:
            argv.append("--personal")
    if fleet.image_automation:
        argv.append(f"--components-extra={IMAGE_COMPONENTS}")
    return argv


OPERATOR_CHART = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator"


def operator_steps(fleet: FleetAnswers, cluster_name: str) -> str:
    """The Flux Operator install steps for one cluster (bootstrap: flux-operator), as shell.

    The order follows the operator's docs: operator first, then the sync secret the
    FluxInstance's spec.sync.pullSecret names, then the FluxInstance, which syncs the rest.
    """
    cluster = fleet.cluster(cluster_name)
    if cluster is None:
        known = ", ".join(c.name for c in fleet.clusters) or "none"
        raise UserError(f"unknown cluster '{cluster_name}' (known: {known})",
                        hint="pass one of the fleet's cluster names")
    ctx = shlex.quote(cluster.context)
    access = "read-write" if fleet.image_automation else "read-only"
    if fleet.repo_url.startswith("ssh://"):
        secret = (f"flux create secret git flux-system --context={ctx} --namespace=flux-system "
                  f"--url={shlex.quote(fleet.repo_url)} --private-key-file=./identity")
        note = f"# 2. sync credentials: an SSH deploy key ({access}) registered on the repo"
    else:
        secret = (f"flux create secret git flux-system --context={ctx} --namespace=flux-system "
                  f"--url={shlex.quote(fleet.repo_url)} --username=git --password=\"$GIT_TOKEN\"")
        note = f"# 2. sync credentials: a {access} token for the repo in $GIT_TOKEN"
    return "\n".join([
        f"# cluster {cluster.name}: Flux {fleet.flux_version} through the Flux Operator",
        "# 1. install the operator (it owns the Flux controllers from now on)",
        f"helm install flux-operator {OPERATOR_CHART} --kube-context={ctx} "
        "--namespace=flux-system --create-namespace --wait",
        note,
        secret,
        "# 3. apply the FluxInstance; it installs Flux and syncs "
        f"clusters/{cluster.name} from {fleet.branch}",
        f"kubectl --context={ctx} apply -f clusters/{cluster.name}/flux-system/flux-instance.yaml",
    ])


def load_fleet(fleet_dir: Path) -> FleetAnswers:
    """The answers a fleet was rendered with, validated (UserError with file and problems)."""
    path = fleet_dir / ANSWERS_FILE
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise UserError(f"{path}: not found; is {fleet_dir} a fleet rendered by flux-fleet?",
                        hint="pass --dir <fleet repo>") from err
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise UserError(f"{path}: must be a YAML mapping of answers")
    if data.get("repo_kind", "platform") != "platform":
        raise UserError(f"{path}: this is a tenant repo; bootstrap runs on the platform fleet repo")
    problems = validate(data)
    if problems:
        raise UserError(f"{path}: the answers are not valid", problems=problems,
                        hint="fix them with `copier update --data`, never by hand")
    return FleetAnswers.of(data)


def describe(argv: list[str], fleet: FleetAnswers) -> str:
    """The command as a shell line, with a note on the deploy key."""
    note = ("# deploy key: read-write (--read-write-key=true), image automation pushes to the repo"
            if fleet.image_automation else
            "# deploy key: read-only (--read-write-key=false is flux's default)")
    if fleet.git_provider == "git":
        note = "# flux bootstrap git: pass --private-key-file or --password/--token-auth for access"
    return f"{note}\n{shlex.join(argv)}"
