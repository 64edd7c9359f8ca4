"""The fleet's answers (copier.yml keys) as typed data, and their validation as pure functions.

The checks mirror the Copier validators in ``template/_validators.jinja`` word for word, so
``flux-fleet new`` can reject bad answers with one line per problem *before* Copier runs (Copier
itself prints a traceback and may leave a half-rendered directory behind).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ANSWER_KEYS = (
    "fleet_name", "repo_kind", "git_provider", "repo_url", "branch", "flux_version", "clusters",
    "tenants", "policies", "allowed_source_prefixes", "sops", "notifications", "image_automation",
    "bootstrap",
)
BOOTSTRAP_MODES = ("flux-cli", "flux-operator")
PROVIDERS = ("github", "gitlab", "gitea", "bitbucket-server", "git")
REPO_KINDS = ("platform", "tenant")
CLUSTER_KEYS = ("name", "context", "env")
TENANT_KEYS = ("name", "namespaces", "repo_url", "branch", "paths", "role", "clusters",
               "pod_security", "quota", "allowed_source_prefixes", "network_policy")
#: Pod Security Admission levels a tenant may run at; `privileged` would hand it its nodes.
POD_SECURITY_LEVELS = ("restricted", "baseline")
DEFAULT_POD_SECURITY = "restricted"
#: ResourceQuota sizes per tenant namespace (copier.yml ``quota_defaults``; docs/template.md).
QUOTA_DEFAULTS: Mapping[str, str | int] = {
    "cpu": "4", "memory": "8Gi", "limits_cpu": "8", "limits_memory": "16Gi",
    "pods": 50, "persistentvolumeclaims": 10,
}
#: quota keys that are whole numbers, not quantities
COUNT_KEYS = ("pods", "persistentvolumeclaims")
_COUNT_KEYS = COUNT_KEYS
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
DEFAULT_ROLE = "admin"
DEFAULT_BRANCH = "main"

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# A repository may sit at the host's root (https://git.example.com/team-x.git) and behind a port.
_REPO_URL = re.compile(r"^(https?|ssh)://([^@/\s]+@)?[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s/]+)+/?$")
_OWNER_REPO = re.compile(r"^[a-z+]+://[^/]+/[^/]+/[^/]")
# The providers whose `flux bootstrap <provider>` needs an owner (or project) and a repository.
OWNER_PROVIDERS = ("github", "gitlab", "gitea", "bitbucket-server")
_URL = re.compile(r"^(https?|ssh)://[^\s/]+(/\S*)?$")
_PREFIX = re.compile(r"^(https?|ssh|oci)://[^\s/]+(/\S*)?$")
_ROLE = re.compile(r"^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$")
_PATH_CHARS = re.compile(r"^[A-Za-z0-9._/-]+$")
# Each cluster applies tenant T with a Flux Kustomization named tenant-T, and kustomize-controller
# writes that name into a label of every object it applies: label values stop at 63 characters.
TENANT_PREFIX = "tenant-"
TENANT_NAME_MAX = 63 - len(TENANT_PREFIX)
_BAD_BRANCH = re.compile(r"[\s~^:?*\[\\]|\.\.|^[-/]|/$|\.lock$|@\{")
_FLUX_VERSION = re.compile(r"^v2\.[0-9]+\.[0-9]+$")
_AGE = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")


@dataclass(frozen=True)
class Cluster:
    """One cluster of the fleet: its folder name, kube context and environment (overlay) name."""

    name: str
    context: str
    env: str

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Cluster:
        name = str(data["name"])
        return cls(name, str(data.get("context") or name), str(data.get("env") or name))


@dataclass(frozen=True)
class Tenant:
    """One tenant with every optional field filled in as the template fills it."""

    name: str
    namespaces: tuple[str, ...]
    repo_url: str
    branch: str = DEFAULT_BRANCH
    paths: Mapping[str, str] = field(default_factory=dict)
    role: str = DEFAULT_ROLE
    clusters: tuple[str, ...] = ()
    pod_security: str = DEFAULT_POD_SECURITY
    quota: Mapping[str, str | int] = field(default_factory=lambda: dict(QUOTA_DEFAULTS))
    allowed_source_prefixes: tuple[str, ...] = ()  # empty: the fleet-wide list applies
    network_policy: bool = True  # the tenant-isolation NetworkPolicy in each namespace

    @property
    def namespace(self) -> str:
        """The namespace holding the tenant's GitRepository and Kustomization."""
        return self.namespaces[0]

    @classmethod
    def of(cls, data: Mapping[str, Any], envs: Sequence[str], clusters: Sequence[str]) -> Tenant:
        name = str(data["name"])
        paths = dict(data.get("paths") or {})
        return cls(
            name=name,
            namespaces=tuple(data.get("namespaces") or [name]),
            repo_url=str(data.get("repo_url") or ""),
            branch=str(data.get("branch") or DEFAULT_BRANCH),
            paths={env: str(paths.get(env) or f"./{env}") for env in envs},
            role=str(data.get("role") or DEFAULT_ROLE),
            clusters=tuple(data.get("clusters") or clusters),
            pod_security=str(data.get("pod_security") or DEFAULT_POD_SECURITY),
            quota={**QUOTA_DEFAULTS, **dict(data.get("quota") or {})},
            allowed_source_prefixes=tuple(data.get("allowed_source_prefixes") or ()),
            network_policy=data.get("network_policy") is not False,
        )


@dataclass(frozen=True)
class FleetAnswers:
    """The answers a fleet was rendered with (a validated ``.copier-answers.yml``)."""

    fleet_name: str
    repo_kind: str
    git_provider: str
    repo_url: str
    branch: str
    flux_version: str
    clusters: tuple[Cluster, ...]
    tenants: tuple[Tenant, ...]
    policies: bool = True
    allowed_source_prefixes: tuple[str, ...] = ()
    sops: bool = False
    notifications: bool = False
    image_automation: bool = False
    bootstrap: str = "flux-cli"

    @property
    def envs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.env for c in self.clusters))

    def cluster(self, name: str) -> Cluster | None:
        return next((c for c in self.clusters if c.name == name), None)

    def prefixes_of(self, tenant: Tenant) -> tuple[str, ...]:
        """The source URL prefixes the policy admits for ``tenant`` (what its Namespace carries).

        The tenant's own list when it has one, else the fleet-wide list; empty when policies
        are off or the fleet-wide list is empty (the source policy is not rendered).
        """
        if not self.policies or not self.allowed_source_prefixes:
            return ()
        return tenant.allowed_source_prefixes or self.allowed_source_prefixes

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> FleetAnswers:
        """Build from a mapping that :func:`validate` accepted."""
        clusters = tuple(Cluster.of(c) for c in data.get("clusters") or ())
        envs = tuple(dict.fromkeys(c.env for c in clusters))
        names = [c.name for c in clusters]
        return cls(
            fleet_name=str(data.get("fleet_name", "fleet")),
            repo_kind=str(data.get("repo_kind", "platform")),
            git_provider=str(data.get("git_provider", "github")),
            repo_url=str(data.get("repo_url", "")),
            branch=str(data.get("branch", DEFAULT_BRANCH)),
            flux_version=str(data.get("flux_version", "")),
            clusters=clusters,
            tenants=tuple(Tenant.of(t, envs, names) for t in data.get("tenants") or ()),
            policies=bool(data.get("policies", True)),
            allowed_source_prefixes=tuple(data.get("allowed_source_prefixes") or ()),
            sops=bool(data.get("sops", False)),
            notifications=bool(data.get("notifications", False)),
            image_automation=bool(data.get("image_automation", False)),
            bootstrap=str(data.get("bootstrap") or "flux-cli"),
        )


# --- checks: each yields one human line per problem ------------------------------------------

def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def check_label(where: str, value: Any) -> Iterator[str]:
    """DNS-1123 label: what Kubernetes names and fleet folder names must be."""
    if not isinstance(value, str) or not _LABEL.match(value):
        yield f"{where} '{value}': not a DNS-1123 label (lower-case letters, digits, '-')"
    elif len(value) > 63:
        yield f"{where} '{value}': longer than 63 characters"


def check_reserved(where: str, value: Any) -> Iterator[str]:
    reserved = value in ("flux-system", "default") or str(value).startswith("kube-")
    if isinstance(value, str) and reserved:
        yield (f"{where} '{value}': reserved name (flux-system, default and kube-* belong to the "
               "platform)")


def check_url(where: str, value: Any) -> Iterator[str]:
    if not isinstance(value, str) or not _URL.match(value):
        yield f"{where} '{value}': not a URL (use https://host/path or ssh://git@host/path)"


def check_repo_url(where: str, value: Any, provider: str = "git") -> Iterator[str]:
    if not isinstance(value, str) or not _REPO_URL.match(value):
        yield (f"{where} '{value}': not a Git repository URL (use https://host/owner/repo or "
               "ssh://git@host/owner/repo)")
    elif provider in OWNER_PROVIDERS and not _OWNER_REPO.match(value):
        yield (f"{where} '{value}': `flux bootstrap {provider}` needs https://host/owner/repo "
               "(choose git_provider git for a repository at the host's root)")
    elif (provider == "bitbucket-server" and not re.search(r"/scm/[^/]+/[^/]+$", value)
          and not value.startswith("ssh://")):
        yield f"{where} '{value}': a Bitbucket Server URL looks like https://host/scm/<project>/<repo>.git"


def check_branch(where: str, value: Any) -> Iterator[str]:
    if not isinstance(value, str) or not value or _BAD_BRANCH.search(value):
        yield f"{where} '{value}': not a valid Git branch name"


def check_path(where: str, value: Any) -> Iterator[str]:
    """A folder inside the tenant repo: relative, no '..', not the root or base/."""
    if not isinstance(value, str) or not value:
        yield f"{where}: must be a folder path inside the tenant repo, like ./staging"
        return
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if value.startswith("/") or ".." in parts or "\\" in value:
        yield f"{where} '{value}': must stay inside the tenant repo (no '..', no absolute path)"
    elif not parts or parts[0] == "base":
        yield f"{where} '{value}': must name a folder other than the repo root and base/"
    elif not _PATH_CHARS.match(value):
        yield (f"{where} '{value}': only letters, digits, '.', '_', '-' and '/' (Flux substitutes "
               "it into the tenant's Kustomization as ${tenant_path})")


def check_clusters(items: Any) -> Iterator[str]:
    if not _is_list(items):
        yield "clusters: must be a YAML list of {name, context, env}"
        return
    if not items:
        yield "clusters: at least one cluster is needed"
        return
    names: list[Any] = []
    for i, c in enumerate(items):
        at = f"clusters[{i}]"
        if not isinstance(c, Mapping):
            yield f"{at}: must be a mapping with name, context, env"
            continue
        for key in c:
            if key not in CLUSTER_KEYS:
                yield f"{at}: unknown key '{key}' (known: name, context, env)"
        name = c.get("name")
        yield from check_label(f"{at}.name", name)
        yield from check_reserved(f"{at}.name", name)
        if name == "base":
            yield (f"{at}.name 'base': reserved name (infrastructure/base and policies/base hold "
                   "what every cluster shares)")
        if name in names:
            yield f"{at}.name '{name}': duplicate name (also clusters[{names.index(name)}])"
        names.append(name)
        context = c.get("context")
        if context is not None and (not isinstance(context, str) or not context
                                    or re.search(r"\s", context)):
            yield f"{at}.context '{context}': must be a kube context name without spaces"
        env = c.get("env")
        if env is not None:
            yield from check_label(f"{at}.env", env)
            if env == "base":
                yield (f"{at}.env 'base': reserved name (the tenant repo keeps shared manifests "
                       "in base/)")


def _cluster_names(clusters: Any) -> list[Any]:
    if _is_list(clusters) and all(isinstance(c, Mapping) for c in clusters):
        return [c.get("name") for c in clusters]
    return []


def envs_of(clusters: Any) -> list[str]:
    """The distinct environments of the clusters, in order (copier.yml's computed ``envs``)."""
    if not _is_list(clusters):
        return []
    envs = [c.get("env") or c.get("name") for c in clusters if isinstance(c, Mapping)]
    return list(dict.fromkeys(e for e in envs if isinstance(e, str)))


def check_tenants(items: Any, clusters: Any) -> Iterator[str]:
    if items is None:
        return
    if not _is_list(items):
        yield ("tenants: must be a YAML list of {name, namespaces, repo_url, branch, paths, role, "
               "clusters, pod_security, quota, allowed_source_prefixes, network_policy}")
        return
    known = _cluster_names(clusters)
    envs = envs_of(clusters)
    names: list[Any] = []
    owners: dict[Any, str] = {}
    for i, t in enumerate(items):
        at = f"tenants[{i}]"
        if not isinstance(t, Mapping):
            yield (f"{at}: must be a mapping with name, namespaces, repo_url, branch, paths, role, "
                   "clusters, pod_security, quota, allowed_source_prefixes, network_policy")
            continue
        for key in t:
            if key not in TENANT_KEYS:
                yield (f"{at}: unknown key '{key}' (known: name, namespaces, repo_url, branch, "
                       "paths, role, clusters, pod_security, quota, allowed_source_prefixes, "
                       "network_policy)")
        name = t.get("name")
        yield from check_label(f"{at}.name", name)
        yield from check_reserved(f"{at}.name", name)
        if isinstance(name, str) and TENANT_NAME_MAX < len(name) <= 63:
            yield (f"{at}.name '{name}': longer than {TENANT_NAME_MAX} characters (each cluster "
                   f"applies it as Kustomization {TENANT_PREFIX}<name>, at most 63)")
        if name in names:
            yield f"{at}.name '{name}': duplicate name (also tenants[{names.index(name)}])"
        names.append(name)
        namespaces = t.get("namespaces")
        namespaces = [name] if namespaces is None else namespaces
        if not _is_list(namespaces) or not namespaces:
            yield f"{at}.namespaces: must be a non-empty YAML list of namespace names"
        else:
            for j, ns in enumerate(namespaces):
                nat = f"{at}.namespaces[{j}]"
                yield from check_label(nat, ns)
                yield from check_reserved(nat, ns)
                if isinstance(ns, str) and ns in owners:
                    yield f"{nat} '{ns}': namespace already used by {owners[ns]}"
                if isinstance(ns, str):
                    owners.setdefault(ns, at)
        if t.get("repo_url") is None:
            yield f"{at}.repo_url: missing (the tenant's Git repository URL)"
        else:
            yield from check_repo_url(f"{at}.repo_url", t.get("repo_url"))
        if t.get("branch") is not None:
            yield from check_branch(f"{at}.branch", t.get("branch"))
        role = t.get("role")
        if role is not None and (not isinstance(role, str) or not _ROLE.match(role)):
            yield f"{at}.role '{role}': not a ClusterRole name"
        level = t.get("pod_security")
        if level is not None and level not in POD_SECURITY_LEVELS:
            yield (f"{at}.pod_security '{level}': must be restricted (the default) or baseline "
                   "(privileged would let the tenant's pods take over their node)")
        if t.get("quota") is not None:
            yield from check_quota(f"{at}.quota", t.get("quota"))
        if t.get("network_policy") not in (None, True, False):
            yield (f"{at}.network_policy '{t.get('network_policy')}': must be true (the default: "
                   "other tenants' pods cannot reach this tenant's) or false")
        if t.get("allowed_source_prefixes") is not None:
            yield from check_prefix_list(f"{at}.allowed_source_prefixes",
                                         t.get("allowed_source_prefixes"), own=True)
        paths = t.get("paths")
        if paths is not None:
            if not isinstance(paths, Mapping):
                yield f"{at}.paths: must be a mapping of environment -> folder in the tenant repo"
            else:
                for env, path in paths.items():
                    if env not in envs:
                        yield f"{at}.paths.{env}: unknown environment (known: {', '.join(envs)})"
                    yield from check_path(f"{at}.paths.{env}", path)
        refs = t.get("clusters")
        if refs is not None:
            if not _is_list(refs):
                yield f"{at}.clusters: must be a YAML list of cluster names"
            else:
                for j, ref in enumerate(refs):
                    if ref not in known:
                        yield (f"{at}.clusters[{j}] '{ref}': unknown cluster (known: "
                               f"{', '.join(map(str, known))})")


def check_quota(where: str, value: Any) -> Iterator[str]:
    """A tenant's ResourceQuota sizes: quantities for cpu/memory, whole numbers for counts."""
    if not isinstance(value, Mapping):
        yield f"{where}: must be a mapping with any of {', '.join(QUOTA_DEFAULTS)}"
        return
    for key, q in value.items():
        if key not in QUOTA_DEFAULTS:
            yield f"{where}: unknown key '{key}' (known: {', '.join(QUOTA_DEFAULTS)})"
        elif key in _COUNT_KEYS:
            if isinstance(q, bool) or not isinstance(q, int) or q < 0:
                yield f"{where}.{key} '{q}': must be a whole number, 0 or more"
        elif isinstance(q, bool) or not _QUANTITY.match(str(q)):
            yield f"{where}.{key} '{q}': not a Kubernetes quantity (like 500m, 4, 8Gi)"


def check_prefix_list(where: str, items: Any, own: bool = False) -> Iterator[str]:
    """URL prefixes compared at a path boundary: each must end with '/' (the policy's rule)."""
    if not _is_list(items):
        yield f"{where}: must be a YAML list of URL prefixes"
        return
    if own and not items:
        yield (f"{where}: must list at least one prefix (leave the key out to use the fleet-wide "
               "allowed_source_prefixes)")
        return
    for i, prefix in enumerate(items):
        if not isinstance(prefix, str) or not _PREFIX.match(prefix):
            yield f"{where}[{i}] '{prefix}': not a URL prefix (https://, ssh:// or oci://)"
        elif not prefix.endswith("/"):
            bare = prefix.rstrip("/")
            yield (f"{where}[{i}] '{prefix}': a prefix must end with '/', or it also admits its "
                   f"neighbours ('{bare}' admits '{bare}-evil'); write '{bare}/'")


def check_prefixes(items: Any, tenants: Any) -> Iterator[str]:
    if items is None:
        return
    yield from check_prefix_list("allowed_source_prefixes", items)
    if not _is_list(items) or not _is_list(tenants):
        return
    prefixes = [p for p in items if isinstance(p, str)]
    for i, t in enumerate(tenants):
        if not isinstance(t, Mapping):
            continue
        at = f"tenants[{i}]"
        mine = t.get("allowed_source_prefixes")
        mine = mine if _is_list(mine) and mine else None
        if mine is not None and not items:
            yield (f"{at}.allowed_source_prefixes: the fleet-wide allowed_source_prefixes is "
                   "empty, which turns the source policy off for every tenant; set it first")
        url = t.get("repo_url")
        if not items or not isinstance(url, str):
            continue
        own = [p for p in mine if isinstance(p, str)] if mine is not None else prefixes
        if not any(url.startswith(p) for p in own):
            where = (f"{at}." if mine is not None else "") + "allowed_source_prefixes"
            yield (f"{at}.repo_url '{url}': outside {where} ({', '.join(own)}); the source "
                   "policy would reject it; allow its prefix with "
                   "`flux-fleet sources add <prefix>`")


def check_age(items: Any, sops: bool) -> Iterator[str]:
    if not _is_list(items):
        yield "sops_age_recipients: must be a YAML list of age public keys (age1...)"
    elif sops and not items:
        yield "sops_age_recipients: at least one age public key (age1...) is needed when sops is on"
    else:
        for i, key in enumerate(items):
            if not isinstance(key, str) or not _AGE.match(key):
                yield (f"sops_age_recipients[{i}] '{key}': not an age public key (age1 followed "
                       "by 58 characters)")


def validate(answers: Mapping[str, Any]) -> list[str]:
    """Every problem with a complete set of answers, one human line each (empty = valid)."""
    a = answers
    problems: list[str] = []
    problems += check_label("fleet_name", a.get("fleet_name"))
    if a.get("repo_kind") not in REPO_KINDS:
        problems.append(f"repo_kind '{a.get('repo_kind')}': must be one of {', '.join(REPO_KINDS)}")
    provider = a.get("git_provider")
    if provider not in PROVIDERS:
        problems.append(f"git_provider '{provider}': must be one of {', '.join(PROVIDERS)}")
    problems += check_repo_url("repo_url", a.get("repo_url"), str(provider))
    problems += check_branch("branch", a.get("branch"))
    version = a.get("flux_version")
    if not isinstance(version, str) or not _FLUX_VERSION.match(version):
        problems.append(f"flux_version '{version}': not a Flux v2 release like v2.9.4")
    problems += check_clusters(a.get("clusters"))
    problems += check_tenants(a.get("tenants"), a.get("clusters"))
    platform = a.get("repo_kind", "platform") == "platform"
    if not platform:
        given = a.get("tenants") if _is_list(a.get("tenants")) else []
        names = [t.get("name") for t in given if isinstance(t, Mapping)]
        if a.get("tenant_name") not in names:
            problems.append(f"tenant_name '{a.get('tenant_name')}': not one of the tenants "
                            f"({', '.join(map(str, names)) or 'none defined'})")
    elif a.get("tenant_name") is not None:  # unused by a platform fleet, but computed with
        problems += check_label("tenant_name", a.get("tenant_name"))  # (tenant_overlays)
    if platform and a.get("policies", True):
        problems += check_prefixes(a.get("allowed_source_prefixes"), a.get("tenants"))
    elif a.get("allowed_source_prefixes"):
        problems += check_prefixes(a.get("allowed_source_prefixes"), None)
    if "sops_age_recipients" in a or (platform and a.get("sops")):
        recipients = a.get("sops_age_recipients")  # None: copier.yml's default left it unset
        problems += check_age([] if recipients is None else recipients,
                              platform and bool(a.get("sops")))
    if a.get("bootstrap", "flux-cli") not in BOOTSTRAP_MODES:
        problems.append(f"bootstrap '{a.get('bootstrap')}': must be one of "
                        f"{', '.join(BOOTSTRAP_MODES)}")
    if "template_url" in a:
        problems += check_url("template_url", a.get("template_url"))
    return problems
