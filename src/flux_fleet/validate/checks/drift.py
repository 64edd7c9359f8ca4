"""Answers/tree drift (FF6xx): does ``.copier-answers.yml`` still describe the tree?

``copier update`` renders the *stored* answers twice (old and new template) and applies the
difference. When the answers file was edited by hand, or tenant/cluster folders were added or
deleted by hand, that difference no longer matches the tree: the next update silently skips an
added tenant or leaves a removed one behind. These rules catch the mismatch before it bites,
each with the command that repairs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flux_fleet.flux_operator import (
    FluxInstance,
    expected_components,
    is_flux_instance,
    same_version,
)
from flux_fleet.model import Document, Finding, Inventory, Severity
from flux_fleet.validate.rules import Rule

ANSWERS_FILE = ".copier-answers.yml"
_RESTORE = (f"restore the answers (`git checkout -- {ANSWERS_FILE}`) and change them with "
            "`flux-fleet tenant|cluster add|remove`, or re-render from the answers with "
            "`copier recopy --defaults --overwrite` and review `git diff`")

TENANT_WITHOUT_FILES = Rule(
    code="FF601", name="tenant-without-files", severity=Severity.ERROR,
    summary="A tenant in .copier-answers.yml has no folder under tenants/base/",
    why=(
        "The answers file says the tenant exists but its manifests are not in the tree: the "
        "answers were edited by hand (Copier never rendered the tenant, and the next `copier "
        "update` will not either, because old and new render agree) or the folder was deleted."
    ),
    fix=_RESTORE,
    bad="# .copier-answers.yml lists tenant team-b, but tenants/base/team-b/ does not exist\n",
    good="# flux-fleet tenant add team-b --repo https://github.com/org/team-b\n",
)
ORPHAN_TENANT_FILES = Rule(
    code="FF602", name="tenant-not-in-answers", severity=Severity.ERROR,
    summary="A folder under tenants/base/ belongs to no tenant in .copier-answers.yml",
    why=(
        "Copier only manages what the answers describe: a tenant folder without an answer is "
        "never updated by the template, and a tenant removed from the answers by hand is left "
        "behind, still applied to the clusters that list it."
    ),
    fix="bring it under the answers with `flux-fleet tenant add NAME --repo URL` (after "
        "`git rm -r` of the folder), or delete it with `git rm -r tenants/base/NAME`",
    bad="tenants/base/old-team/   # no tenant old-team in .copier-answers.yml\n",
    good="# git rm -r tenants/base/old-team\n",
)
CLUSTER_WITHOUT_FILES = Rule(
    code="FF603", name="cluster-without-files", severity=Severity.ERROR,
    summary="A cluster in .copier-answers.yml has no folder under clusters/",
    why=(
        "The answers file says the cluster exists but nothing would bootstrap it: the answers "
        "were edited by hand or the folder was deleted, and `copier update` will not restore it."
    ),
    fix=_RESTORE,
    bad="# .copier-answers.yml lists cluster qa, but clusters/qa/ does not exist\n",
    good="# flux-fleet cluster add qa --context qa-admin\n",
)
ORPHAN_CLUSTER_FILES = Rule(
    code="FF604", name="cluster-not-in-answers", severity=Severity.ERROR,
    summary="A folder under clusters/ belongs to no cluster in .copier-answers.yml",
    why=(
        "A cluster folder without an answer is never updated by the template (Flux version, "
        "lockdown patches), so that cluster silently falls behind the rest of the fleet."
    ),
    fix="bring it under the answers with `flux-fleet cluster add NAME --context CTX` (after "
        "`git rm -r` of its folders), or delete it with `git rm -r clusters/NAME`",
    bad="clusters/old/   # no cluster old in .copier-answers.yml\n",
    good="# git rm -r clusters/old infrastructure/old policies/old\n",
)
TENANT_PLACEMENT = Rule(
    code="FF605", name="answers-do-not-match-tree", severity=Severity.ERROR,
    summary=("Which tenants run on a cluster differs between the answers and "
             "clusters/<cluster>/tenants.yaml"),
    why=(
        "clusters/<cluster>/tenants.yaml is rendered from the answers: one Flux Kustomization "
        "tenant-<name> (path ./tenants/base/<name>) per tenant on that cluster. When it applies a "
        "tenant the answers do not put on that cluster (or misses one they do), the answers file "
        "was edited by hand and the next update will apply the wrong difference."
    ),
    fix=_RESTORE,
    bad=("# answers: team-b on [staging]\n"
         "# clusters/production/tenants.yaml: Kustomization tenant-team-b, "
         "path: ./tenants/base/team-b\n"),
    good=("# git checkout -- .copier-answers.yml, then:\n"
          "# flux-fleet tenant remove team-b\n"
          "# flux-fleet tenant add team-b --clusters staging,production --repo URL\n"),
)
RELATIVE_SOURCE = Rule(
    code="FF606", name="template-source-unreachable", severity=Severity.WARNING,
    summary="_src_path in .copier-answers.yml is a relative path",
    why=(
        "Copier resolves a relative template path from the directory the command runs in, so "
        "`copier update` (and `flux-fleet update`) only works from where `copier copy` was typed."
    ),
    fix="set _src_path to the template's git URL or an absolute path, commit, then update",
    bad="_src_path: ../flux-fleet\n",
    good="_src_path: https://github.com/flux-fleet/flux-fleet\n",
)

_OPERATOR_FIX = ("re-render the FluxInstance from the answers (`flux-fleet update`), or change "
                 "the answers with `flux-fleet update --data KEY=VALUE`")
SYNC_PATH_MISSING = Rule(
    code="FF607", name="instance-sync-path-missing", severity=Severity.ERROR,
    summary="A FluxInstance's spec.sync.path is not a folder of this repository",
    why=(
        "The Flux Operator creates the flux-system Kustomization from spec.sync: a path that "
        "does not exist makes that Kustomization fail, and nothing of the fleet is applied."
    ),
    fix="point spec.sync.path at clusters/<cluster> (the folder that holds the FluxInstance)",
    bad="sync:\n  path: clusters/stagin\n",
    good="sync:\n  path: clusters/staging\n",
)
SYNC_SOURCE_MISMATCH = Rule(
    code="FF608", name="instance-sync-not-this-repo", severity=Severity.ERROR,
    summary="A FluxInstance syncs another URL or branch than the answers' repo_url/branch",
    why=(
        "The cluster would follow a different repository or branch than the one this fleet is "
        "rendered for: merges here never reach it, and `flux-fleet update` cannot help."
    ),
    fix=_OPERATOR_FIX,
    bad="sync:\n  url: https://github.com/org/old-fleet\n  ref: refs/heads/dev\n",
    good="sync:\n  url: https://github.com/org/fleet\n  ref: refs/heads/main\n",
)
INSTANCE_VERSION_MISMATCH = Rule(
    code="FF609", name="instance-version-not-answers", severity=Severity.ERROR,
    summary="A FluxInstance's spec.distribution.version differs from the answers' flux_version",
    why=(
        "flux_version in the answers is the fleet's Flux release; an instance pinned to "
        "another one is silently left behind (or ahead) by `flux-fleet update --flux-version`."
    ),
    fix="bump the fleet with `flux-fleet update --flux-version vX.Y.Z`, never the file alone",
    bad="distribution:\n  version: \"2.3.0\"   # answers: flux_version v2.9.4\n",
    good="distribution:\n  version: \"2.9.4\"\n",
)
INSTANCE_COMPONENTS_MISMATCH = Rule(
    code="FF610", name="instance-components-not-answers", severity=Severity.ERROR,
    summary="A FluxInstance's spec.components differ from what the answers install",
    why=(
        "image_automation in the answers decides whether the image controllers run; an instance "
        "without them leaves ImagePolicies unreconciled, one with them runs controllers nobody "
        "asked for (with write access to the repo)."
    ),
    fix=_OPERATOR_FIX,
    bad="components: [source-controller, kustomize-controller]\n",
    good=("components: [source-controller, kustomize-controller, helm-controller, "
          "notification-controller]\n"),
)

RULES = (TENANT_WITHOUT_FILES, ORPHAN_TENANT_FILES, CLUSTER_WITHOUT_FILES, ORPHAN_CLUSTER_FILES,
         TENANT_PLACEMENT, RELATIVE_SOURCE, SYNC_PATH_MISSING, SYNC_SOURCE_MISMATCH,
         INSTANCE_VERSION_MISMATCH, INSTANCE_COMPONENTS_MISMATCH)


def _names(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(i["name"]) for i in items if isinstance(i, dict) and i.get("name")]


def _subdirs(root: Path, rel: str) -> list[str]:
    base = root / rel
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def _first_file(root: Path, rel: str) -> str:
    """A file inside folder ``rel`` to point the finding at (kustomization.yaml first)."""
    folder = root / rel
    for dirpath, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files, key=lambda n: (n != "kustomization.yaml", n)):
            return Path(dirpath, name).relative_to(root).as_posix()
    return rel


def _answers_doc(inv: Inventory) -> Document | None:
    return next((d for d in inv.documents if d.file == ANSWERS_FILE and d.index == 0), None)


def _at_answers(rule: Rule, doc: Document | None, path: tuple[str | int, ...], message: str,
                hint: str | None = None) -> Finding:
    if doc is not None:
        return rule.at(doc, path, message, hint)
    return rule.at_file(ANSWERS_FILE, message=message, hint=hint)


def tenants_file(cluster: str) -> str:
    """The file that applies a cluster's tenants: one Flux Kustomization per tenant."""
    return f"clusters/{cluster}/tenants.yaml"


def _tenant_refs(inv: Inventory, root: Path, cluster: str) -> dict[str, Document] | None:
    """Tenants that clusters/<cluster>/tenants.yaml applies (Flux Kustomizations whose path is
    ``./tenants/base/<t>``), each with its document; None when the file does not exist."""
    rel = tenants_file(cluster)
    if not (root / rel).is_file():
        return None
    refs: dict[str, Document] = {}
    for doc in inv.documents:
        data = doc.data
        if doc.file != rel or not isinstance(data, dict) or data.get("kind") != "Kustomization":
            continue
        spec = data.get("spec")
        path = spec.get("path") if isinstance(spec, dict) else None
        if not isinstance(path, str):
            continue
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if len(parts) == 3 and parts[:2] == ["tenants", "base"]:
            refs.setdefault(parts[2], doc)
    return refs


def instance_findings(doc: Document, root: Path, answers: dict[str, Any]) -> Iterator[Finding]:
    """FF607-FF610: one FluxInstance against the repo tree and the answers it was rendered from."""
    instance = FluxInstance.of(doc.data)
    if instance.has_sync:
        path = instance.sync_path.strip("/").removeprefix("./")
        if instance.sync_kind == "GitRepository" and not (root / path).is_dir():
            yield SYNC_PATH_MISSING.at(doc, ("spec", "sync", "path"),
                                       f"spec.sync.path '{instance.sync_path}': no such folder in "
                                       "this repository")
        url, branch = str(answers.get("repo_url", "")), str(answers.get("branch", "main"))
        if url and instance.sync_url.rstrip("/") != url.rstrip("/"):
            yield SYNC_SOURCE_MISMATCH.at(doc, ("spec", "sync", "url"),
                                          f"spec.sync.url '{instance.sync_url}' is not the "
                                          f"answers' repo_url '{url}'")
        if instance.branch() != branch:
            yield SYNC_SOURCE_MISMATCH.at(doc, ("spec", "sync", "ref"),
                                          f"spec.sync.ref '{instance.sync_ref}' is not the "
                                          f"answers' branch (refs/heads/{branch})")
    version = str(answers.get("flux_version", ""))
    if version and not same_version(instance.version, version):
        yield INSTANCE_VERSION_MISMATCH.at(doc, ("spec", "distribution", "version"),
                                           f"spec.distribution.version '{instance.version}' is "
                                           f"not the answers' flux_version {version}")
    want = expected_components(bool(answers.get("image_automation")))
    if set(instance.components) != set(want):
        missing = sorted(set(want) - set(instance.components))
        extra = sorted(set(instance.components) - set(want))
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"not in the answers: {', '.join(extra)}"] if extra else [])
        yield INSTANCE_COMPONENTS_MISMATCH.at(
            doc, ("spec", "components") if "components" in (doc.data.get("spec") or {}) else (),
            f"spec.components: {'; '.join(parts)} (image_automation: "
            f"{bool(answers.get('image_automation'))})")


def check(inv: Inventory) -> list[Finding]:
    """Every mismatch between ``.copier-answers.yml`` and the tree of a platform fleet."""
    return list(_check(inv))


def _check(inv: Inventory) -> Iterator[Finding]:
    answers = inv.answers
    if not isinstance(answers, dict) or inv.tenant_repo:
        return
    if answers.get("repo_kind", "platform") != "platform":
        return
    root = Path(inv.root)
    doc = _answers_doc(inv)
    src = answers.get("_src_path")
    if isinstance(src, str) and src and "://" not in src and not src.startswith(
            ("gh:", "gl:", "git@", "/", "~")):
        yield _at_answers(RELATIVE_SOURCE, doc, ("_src_path",),
                          f"_src_path '{src}' is relative: it resolves only from where it "
                          "was typed")

    tenants = answers.get("tenants")
    clusters = answers.get("clusters")
    tenant_names = _names(tenants)
    cluster_names = _names(clusters)

    for i, name in enumerate(tenant_names):
        if not (root / "tenants" / "base" / name).is_dir():
            yield _at_answers(TENANT_WITHOUT_FILES, doc, ("tenants", i, "name"),
                              f"tenant '{name}' is in the answers but tenants/base/{name}/ is "
                              "missing")
    for name in _subdirs(root, "tenants/base"):
        if name not in tenant_names:
            yield ORPHAN_TENANT_FILES.at_file(
                _first_file(root, f"tenants/base/{name}"),
                message=f"tenants/base/{name}/ belongs to no tenant in {ANSWERS_FILE}",
                hint=f"`git rm -r tenants/base/{name}` (and its Kustomization tenant-{name} in "
                     f"clusters/<cluster>/tenants.yaml), or `flux-fleet tenant add {name} --repo "
                     "URL` after removing the folder")

    for i, name in enumerate(cluster_names):
        if not (root / "clusters" / name).is_dir():
            yield _at_answers(CLUSTER_WITHOUT_FILES, doc, ("clusters", i, "name"),
                              f"cluster '{name}' is in the answers but clusters/{name}/ is missing")
    for name in _subdirs(root, "clusters"):
        if name not in cluster_names:
            yield ORPHAN_CLUSTER_FILES.at_file(
                _first_file(root, f"clusters/{name}"),
                message=f"clusters/{name}/ belongs to no cluster in {ANSWERS_FILE}",
                hint=f"`git rm -r clusters/{name}` (and infrastructure/{name}, policies/{name}), "
                     f"or `flux-fleet cluster add {name} --context CTX`")

    # placement: which tenants each cluster's clusters/<cluster>/tenants.yaml applies
    for cluster in cluster_names:
        listed = _tenant_refs(inv, root, cluster)
        if listed is None:
            continue
        expected = set()
        for t in tenants if isinstance(tenants, list) else []:
            if isinstance(t, dict) and t.get("name"):
                on = t.get("clusters") or cluster_names
                if cluster in on:
                    expected.add(str(t["name"]))
        rel = tenants_file(cluster)
        for name in sorted(set(listed) - expected):
            if name in tenant_names:  # folders of unknown tenants are FF602
                yield TENANT_PLACEMENT.at(
                    listed[name], ("spec", "path"),
                    f"{rel} applies tenant '{name}' but the answers do not put it on cluster "
                    f"'{cluster}'")
        for name in sorted(expected - set(listed)):
            yield TENANT_PLACEMENT.at_file(
                rel, message=f"the answers put tenant '{name}' on cluster '{cluster}' but {rel} "
                             "does not apply it")

    for instance_doc in inv.documents:
        if is_flux_instance(instance_doc.data) and not instance_doc.file.startswith(".."):
            yield from instance_findings(instance_doc, root, answers)
