"""The lockdown as built (FF501): the Flux controller Deployments as the cluster receives them.

Reading patch text misses a patch whose target matches nothing (``target.namespace:
kube-system``), a later patch that replaces the args, a parent kustomization.yaml's patch or a
renamed patch file. So the cluster's flux-system folder is built the way its Flux Kustomization
builds it, with real kustomize: the cluster's sync folder when it has a kustomization.yaml of
its own (parent patches), else the flux-system folder. gotk-components.yaml is used as committed
when it holds the controllers; while it is still empty (``flux bootstrap`` fills it on its first
run) a stand-in takes its place: the Flux controllers' Deployments as ``flux install`` renders
them (name, container ``manager``, the base args), so the kustomization's own patches apply to
them as they will to the real file. Every kustomize-controller and helm-controller Deployment of
the output, sharding copies included (Flux docs "Controller sharding": a Deployment per shard
with ``--watch-label-selector=sharding.fluxcd.io/key in (...)``), must carry the flags.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from flux_fleet import flux
from flux_fleet.flux import TenancySettings
from flux_fleet.model import Document, Finding, Inventory
from flux_fleet.validate import kustomize_batch
from flux_fleet.validate.checks.lockdown import LOCKDOWN

if TYPE_CHECKING:
    from flux_fleet.validate import build_cache

COMPONENTS = "gotk-components.yaml"
_DOCUMENT = re.compile(r"^---[ \t]*\n", re.MULTILINE)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Base args of each controller's manager container (flux install, Flux v2.x).
_BASE_ARGS: dict[str, tuple[str, ...]] = {
    "source-controller": ("--events-addr=http://notification-controller.flux-system.svc."
                          "cluster.local./", "--watch-all-namespaces=true",
                          "--log-level=info", "--log-encoding=json",
                          "--enable-leader-election", "--storage-path=/data",
                          "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE)."
                          "svc.cluster.local."),
    "kustomize-controller": ("--events-addr=http://notification-controller.flux-system.svc."
                             "cluster.local./", "--watch-all-namespaces=true",
                             "--log-level=info", "--log-encoding=json",
                             "--enable-leader-election"),
    "helm-controller": ("--events-addr=http://notification-controller.flux-system.svc."
                        "cluster.local./", "--watch-all-namespaces=true", "--log-level=info",
                        "--log-encoding=json", "--enable-leader-election"),
    "notification-controller": ("--watch-all-namespaces=true", "--log-level=info",
                                "--log-encoding=json", "--enable-leader-election"),
    "image-reflector-controller": ("--events-addr=http://notification-controller.flux-system."
                                   "svc.cluster.local./", "--watch-all-namespaces=true",
                                   "--log-level=info", "--log-encoding=json",
                                   "--enable-leader-election"),
    "image-automation-controller": ("--events-addr=http://notification-controller."
                                    "flux-system.svc.cluster.local./",
                                    "--watch-all-namespaces=true", "--log-level=info",
                                    "--log-encoding=json", "--enable-leader-election"),
}
DEFAULT_COMPONENTS = ("source-controller", "kustomize-controller", "helm-controller",
                      "notification-controller")
IMAGE_COMPONENTS = ("image-reflector-controller", "image-automation-controller")


def stand_in(version: str, image_automation: bool) -> str:
    """gotk-components.yaml's Deployments for ``version`` (what flux install renders)."""
    docs = []
    names = DEFAULT_COMPONENTS + (IMAGE_COMPONENTS if image_automation else ())
    for name in names:
        labels = {"app.kubernetes.io/component": name, "app.kubernetes.io/instance":
                  "flux-system", "app.kubernetes.io/part-of": "flux", "control-plane":
                  "controller"}
        docs.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": flux.PLATFORM_NAMESPACE, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "serviceAccountName": name,
                         "containers": [{"name": "manager",
                                         "image": f"ghcr.io/fluxcd/{name}:{version}",
                                         "args": list(_BASE_ARGS[name])}]}}},
        })
    return yaml.safe_dump_all(docs, sort_keys=False)


@dataclass(frozen=True)
class Controller:
    """One Flux controller Deployment as built, with the flags of its manager container."""

    kind: str  # which controller (kustomize-controller, ...)
    name: str  # the Deployment's name (kustomize-controller-shard1 for a shard)
    flags: dict[str, str]
    shard: bool


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _kind_of(data: dict[str, Any]) -> str:
    name = str(flux.get_path(data, ("metadata", "name")) or "")
    containers = _items(flux.get_path(data, ("spec", "template", "spec", "containers")))
    images = [str(c.get("image", "")) for c in containers if isinstance(c, dict)]
    for c in flux.FLUX_CONTROLLERS:
        if name == c or name.startswith(c + "-") or any(f"/{c}:" in i or i.endswith(f"/{c}")
                                                        for i in images):
            return c
    return ""


def controllers(text: str, prefix: str = "") -> list[Controller]:
    """The Flux controller Deployments of a kustomize build's output (``prefix``: the name
    prefix the batch gave them, removed)."""
    out = []
    for chunk in _DOCUMENT.split(text):
        if "kind: Deployment" not in chunk:
            continue  # parse only the Deployments of the build
        data = yaml.load(chunk, Loader=_LOADER)
        if not isinstance(data, dict) or data.get("kind") != "Deployment":
            continue
        meta = data.get("metadata")
        if isinstance(meta, dict) and str(meta.get("name", "")).startswith(prefix):
            meta["name"] = str(meta["name"])[len(prefix):]
        kind = _kind_of(data)
        if not kind:
            continue
        containers = [c for c in _items(flux.get_path(data, ("spec", "template", "spec",
                                                             "containers")))
                      if isinstance(c, dict)]
        manager = next((c for c in containers if c.get("name") == "manager"),
                       containers[0] if containers else {})
        flags: dict[str, str] = {}
        for arg in _items(manager.get("args")):
            parsed = flux.parse_flag(str(arg))
            if parsed is not None:
                flags[parsed[0]] = parsed[1]
        selector = flags.get("--watch-label-selector", "")
        shard = ("sharding.fluxcd.io/key" in selector and not selector.startswith("!")) or (
            "--sharding-key" in flags)
        out.append(Controller(kind, str(flux.get_path(data, ("metadata", "name"))), flags,
                              shard))
    return out


def build_dir(inv: Inventory, doc: Document) -> str:
    """The folder Flux builds that holds this flux-system kustomization (its cluster's sync
    folder when that has a kustomization.yaml of its own, so parent patches count)."""
    here = posixpath.dirname(doc.file) or "."
    for root in inv.roots:
        if (here + "/").startswith(root.rstrip("/") + "/") and root in inv.kustomize_dirs:
            return root
    return here


@dataclass
class Built:
    controllers: list[Controller]
    stand_in: bool
    error: str = ""


def _unsafe(folder: str, names: list[str]) -> set[str]:
    """What the copy leaves out: .git, symlinks (they may lead out of the repository) and
    anything that is not a plain file or folder (a FIFO would block the copy)."""
    out = {".git"}
    for name in names:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            out.add(name)
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            out.add(name)
    return out


def _prefix(i: int) -> str:
    return f"ff{i}-"


def build_controllers(inv: Inventory, docs: list[Document],
                      cache: build_cache.BuildCache | None = None) -> dict[str, Built]:
    """Build every flux-system folder (a stand-in for each still-empty gotk-components.yaml),
    all clusters in one kustomize process (kustomize_batch; a name prefix per cluster keeps
    their identical Deployments apart). ``cache``: kustomize's output of a folder whose
    content is unchanged is taken from the build cache."""
    if not docs:
        return {}
    answers = inv.answers or {}
    version = str(answers.get("flux_version") or "v2")
    image = answers.get("image_automation") is True
    root = Path(inv.root)
    filled = {d.file for d in inv.documents
              if isinstance(d.data, dict) and d.data.get("kind") == "Deployment"}
    empty = sorted({f for d in docs
                    if (root / (f := posixpath.join(posixpath.dirname(d.file), COMPONENTS))
                        ).is_file() and f not in filled})
    folders = {d.file: build_dir(inv, d) for d in docs}
    components = stand_in(version, image)
    keys = {file: _content_key(root, folder, components, empty) for file, folder in
            folders.items()}
    out: dict[str, Built] = {f: _MEMO[k] for f, k in keys.items() if k in _MEMO}
    todo = {f: folder for f, folder in folders.items() if f not in out}
    prefixes = {file: _prefix(i) for i, file in enumerate(sorted(todo))}
    stored = {f: cache.derived_key("lockdown", keys[f], prefixes[f]) for f in todo} \
        if cache is not None else {}
    kept = {f: text for f, k in stored.items() if (text := cache.get(k)) is not None} \
        if cache is not None else {}
    todo = {f: folder for f, folder in todo.items() if f not in kept}
    outputs = _build(root, todo, prefixes, empty, components, whole=False) if todo else {}
    if cache is not None:
        for file, (text, _) in outputs.items():
            if text is not None:
                cache.put(stored[file], text)
    for file, (text, _) in [*outputs.items(), *((f, (t, "")) for f, t in kept.items())]:
        if text is not None:  # built from the folder alone: its content decides the result
            _MEMO[keys[file]] = Built(controllers(text, prefixes[file]),
                                      posixpath.join(posixpath.dirname(file), COMPONENTS)
                                      in empty)
            out[file] = _MEMO[keys[file]]
    failed = {f: todo[f] for f, (text, _) in outputs.items() if text is None}
    if failed:  # a build that reads outside its folder: again from a copy of the whole repo
        again = _build(root, failed, prefixes, empty, components, whole=True)
        for file, (text, error) in again.items():
            uses_stand_in = posixpath.join(posixpath.dirname(file), COMPONENTS) in empty
            out[file] = (Built([], uses_stand_in, error) if text is None
                         else Built(controllers(text, prefixes[file]), uses_stand_in))
    if len(_MEMO) > 256:
        _MEMO.clear()
    return out


#: content key of a folder -> its controllers as built (a process builds the same flux-system
#: folder many times over: every cluster of a fleet template, every fixture of a test run)
_MEMO: dict[str, Built] = {}


def _content_key(root: Path, folder: str, components: str, empty: list[str]) -> str:
    """Hash of everything a folder-only build reads: the folder's plain files and the stand-in."""
    digest = hashlib.sha256(folder.encode() + b"\0" + components.encode())
    base = root if folder == "." else root / folder
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in _unsafe(dirpath, [d]))
        for name in sorted(n for n in filenames if n not in _unsafe(dirpath, [n])):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            digest.update(rel.encode() + b"\0" + (b"<stand-in>" if rel in empty else b""))
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
    return digest.hexdigest()


def _build(root: Path, folders: dict[str, str], prefixes: dict[str, str], empty: list[str],
           components: str, whole: bool) -> dict[str, kustomize_batch.Output]:
    """One batch over copies of the folders (or of the whole repo), the stand-in in place."""
    with tempfile.TemporaryDirectory(prefix="flux-fleet-lockdown-") as tmp:
        work = Path(tmp) / "repo"
        ignore = _unsafe
        if whole:
            shutil.copytree(root, work, ignore=ignore)
        else:
            for folder in sorted(set(folders.values())):
                if not (work / folder).exists():
                    shutil.copytree(root / folder, work / folder, ignore=ignore,
                                    dirs_exist_ok=True)
        for f in empty:
            if (work / f).parent.is_dir():
                (work / f).write_text(components, encoding="utf-8")
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        workdirs: dict[str, Path] = {}
        for i, file in enumerate(sorted(folders)):
            wrapper = scratch / f"c{i}"
            wrapper.mkdir()
            folder = folders[file]
            target = work if folder == "." else work / folder
            (wrapper / "kustomization.yaml").write_text(yaml.safe_dump({
                "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                "namePrefix": prefixes[file], "resources": [os.path.relpath(target, wrapper)],
                "transformers": [kustomize_batch.mark(wrapper)],
            }, sort_keys=False), encoding="utf-8")
            workdirs[file] = wrapper
        outputs, _ = kustomize_batch.build_groups([sorted(workdirs)], workdirs, scratch, jobs=1)
    return outputs


def lockdown_as_built(doc: Document, settings: TenancySettings, built: Built,
                      instance: bool = False) -> Iterator[Finding]:
    """FF501 per lockdown flag missing or altered on a controller Deployment as built."""
    cluster = posixpath.dirname(posixpath.dirname(doc.file)) or "."
    where: tuple[str, ...] = ("patches",) if "patches" in doc.data else ()
    origin = "with a stand-in for the empty gotk-components.yaml" if built.stand_in else (
        "from gotk-components.yaml")
    if instance:
        where, origin = ("spec", "kustomize", "patches"), "by the FluxInstance's patches"
    if built.error:
        yield LOCKDOWN.at(doc, where, message=(
            f"cluster {cluster}: the lockdown cannot be verified: the flux-system build fails "
            f"({built.error})"), hint="fix the build of this kustomization")
        return
    for flag, kinds in flux.LOCKDOWN_FLAGS.items():
        expected = (settings.default_service_account if flag == "--default-service-account"
                    else "true")
        want = f"{flag}={expected or '<service account>'}"
        missing, altered = [], []
        for c in built.controllers:
            if c.kind not in kinds:
                continue
            label = c.name + (" (shard)" if c.shard else "")
            value = c.flags.get(flag)
            if value is None:
                missing.append(label)
            elif (expected and value != expected) or not value or value == "false":
                altered.append(f"{label} ({flag}={value})")
        if missing:
            yield LOCKDOWN.at(doc, where, message=(
                f"cluster {cluster}: {want} is missing on {', '.join(missing)} as built "
                f"{origin}"), hint=f"add {want} to the args of {', '.join(missing)} "
                                   "(a JSON6902 patch in this file)")
        if altered:
            yield LOCKDOWN.at(doc, where, message=(
                f"cluster {cluster}: {want} is altered on {', '.join(altered)} as built "
                f"{origin}"))


# --- the Flux Operator ------------------------------------------------------------------------

#: What ``spec.cluster.multitenant: true`` adds to the controllers (Flux Operator docs,
#: "Flux multi-tenancy"): the lockdown flags, the tenants' default account last.
def _multitenant_patches(sa: str) -> list[dict[str, Any]]:
    def add(flag: str, names: str) -> dict[str, Any]:
        return {"patch": yaml.safe_dump([{"op": "add", "path":
                                          "/spec/template/spec/containers/0/args/-",
                                          "value": flag}]),
                "target": {"kind": "Deployment", "name": names}}
    return [add("--no-cross-namespace-refs=true", "(kustomize-controller|helm-controller|"
                "notification-controller|image-reflector-controller|"
                "image-automation-controller)"),
            add("--no-remote-bases=true", "kustomize-controller"),
            add(f"--default-service-account={sa}", "(kustomize-controller|helm-controller)")]


def build_instances(docs: list[Document]) -> dict[str, Built]:
    """Each FluxInstance's controllers as the operator renders them: the stand-in of its
    components, the multitenant flags when it asks for them, then its spec.kustomize.patches
    (the operator applies them last, in the instance namespace), through real kustomize."""
    from flux_fleet.flux_operator import FluxInstance

    out: dict[str, Built] = {}
    with tempfile.TemporaryDirectory(prefix="flux-fleet-instance-") as tmp:
        workdirs: dict[str, Path] = {}
        for i, doc in enumerate(docs):
            instance = FluxInstance.of(doc.data)
            patches = flux.get_path(doc.data, ("spec", "kustomize", "patches"))
            if not instance.multitenant or not isinstance(patches, list) or not patches:
                continue  # the flags come as the operator sets them: nothing to build
            folder = Path(tmp) / f"i{i}"
            folder.mkdir()
            version = instance.version or "v2"
            names = [c for c in instance.components if c in _BASE_ARGS]
            docs_ = [d for d in yaml.safe_load_all(stand_in(version, True))
                     if d["metadata"]["name"] in names]
            (folder / COMPONENTS).write_text(yaml.safe_dump_all(docs_), encoding="utf-8")
            (folder / "kustomization.yaml").write_text(yaml.safe_dump({
                "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                "resources": [COMPONENTS],
                "patches": [*_multitenant_patches(instance.tenant_service_account), *patches],
                "transformers": [kustomize_batch.mark(folder)],
            }, sort_keys=False), encoding="utf-8")
            workdirs[doc.file] = folder
        if not workdirs:
            return out
        outputs, _ = kustomize_batch.build_groups([[f] for f in sorted(workdirs)], workdirs,
                                                  Path(tmp), jobs=1)
    for file, (text, error) in outputs.items():
        out[file] = Built([], True, error) if text is None else Built(controllers(text), True)
    return out
