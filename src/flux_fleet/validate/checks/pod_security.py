"""Pod security, statically (FF521-FF525, FF528): what a tenant's pods may do on a node.

The controls are the Kubernetes Pod Security Standards
(https://kubernetes.io/docs/concepts/security/pod-security-standards/), levels baseline and
restricted, checked on every pod spec and pod template a tenant applies (Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob) against the Pod
Security Admission level of its namespace (label ``pod-security.kubernetes.io/enforce``; the
tenant's ``pod_security`` answer; else restricted). Pod Security does not cover
``spec.nodeName`` (skips the scheduler: a pod pinned to a control-plane node), system priority
classes (preempt everyone) or ``Service.spec.externalIPs`` (CVE-2020-8554: intercept any IP), so
those are rules of their own, and so are tolerations of the control-plane taint (FF528).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flux_fleet import flux
from flux_fleet.model import Finding, KObject, Severity, Skipped
from flux_fleet.validate.checks.tenancy_context import Tenancy
from flux_fleet.validate.rules import Rule

ENFORCE = "pod-security.kubernetes.io/enforce"

BASELINE = Rule(
    code="FF521",
    name="pod-security-baseline",
    severity=Severity.ERROR,
    summary="A tenant pod breaks the Pod Security 'baseline' level (node access)",
    why=(
        "privileged containers, hostPID/hostIPC/hostNetwork, hostPath volumes, hostPorts, added "
        "capabilities beyond the baseline list, Unconfined seccomp/AppArmor, custom SELinux "
        "types, unmasked /proc and unsafe sysctls each give a pod the node: its files, "
        "processes, network, and from there every pod's token on it."
    ),
    fix="Remove the setting; a tenant workload runs unprivileged in its own namespaces.",
    bad="spec:\n  hostPID: true\n  containers:\n    - name: x\n      securityContext:\n"
        "        privileged: true\n",
    good="spec:\n  containers:\n    - name: x\n      securityContext:\n"
         "        privileged: false\n",
)
RESTRICTED = Rule(
    code="FF522",
    name="pod-security-restricted",
    severity=Severity.ERROR,
    summary="A tenant pod breaks the Pod Security 'restricted' level of its namespace",
    why=(
        "A namespace that enforces restricted rejects pods that may run as root, escalate "
        "privileges, keep capabilities other than NET_BIND_SERVICE, run without a seccomp "
        "profile or mount other volume types; the Deployment then never gets a pod. When the "
        "namespace carries no enforce label the level is assumed (a warning)."
    ),
    fix=(
        "Set runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities.drop: [ALL] and "
        "seccompProfile.type: RuntimeDefault (or relax the tenant to pod_security: baseline)."
    ),
    bad="securityContext:\n  runAsNonRoot: true\n",
    good=(
        "securityContext:\n  runAsNonRoot: true\n  allowPrivilegeEscalation: false\n"
        "  capabilities:\n    drop: [ALL]\n  seccompProfile:\n    type: RuntimeDefault\n"
    ),
)
SCHEDULING = Rule(
    code="FF523",
    name="tenant-pod-scheduling-escape",
    severity=Severity.ERROR,
    summary="A tenant pod sets spec.nodeName or a system-* priority class",
    why=(
        "spec.nodeName bypasses the scheduler (and its taints): a tenant pins pods to "
        "control-plane nodes. priorityClassName system-node-critical / system-cluster-critical "
        "preempts every other workload. Pod Security does not cover either."
    ),
    fix="Remove spec.nodeName (use affinity within the tenant's nodes) and the system priority.",
    bad="spec:\n  nodeName: control-plane-1\n  priorityClassName: system-node-critical\n",
    good="spec:\n  priorityClassName: tenant-default\n",
)
EXTERNAL_IPS = Rule(
    code="FF524",
    name="tenant-service-external-ips",
    severity=Severity.ERROR,
    summary="A tenant Service sets spec.externalIPs",
    why=(
        "externalIPs make kube-proxy capture traffic to any address cluster-wide, another "
        "tenant's or the API server's included (CVE-2020-8554)."
    ),
    fix="Remove spec.externalIPs; expose the Service through the platform's ingress.",
    bad="kind: Service\nspec:\n  externalIPs: [10.0.0.1]\n",
    good="kind: Service\nspec:\n  type: ClusterIP\n",
)
NO_LEVEL = Rule(
    code="FF525",
    name="tenant-namespace-without-pod-security",
    severity=Severity.WARNING,
    summary="A tenant Namespace has no pod-security.kubernetes.io/enforce label",
    why=(
        "Without the label Pod Security Admission enforces the cluster default (privileged "
        "unless configured), so nothing stops a tenant's privileged pod on the cluster."
    ),
    fix="Label the Namespace pod-security.kubernetes.io/enforce: restricted (or baseline).",
    bad="kind: Namespace\nmetadata:\n  name: dev-team\n",
    good=(
        "kind: Namespace\nmetadata:\n  name: dev-team\n  labels:\n"
        "    pod-security.kubernetes.io/enforce: restricted\n"
    ),
)

TOLERATION = Rule(
    code="FF528",
    name="tenant-pod-tolerates-control-plane",
    severity=Severity.ERROR,
    summary="A tenant pod tolerates the control-plane taint, or every taint",
    why=(
        "The node-role.kubernetes.io/control-plane (formerly master) NoSchedule taint is what "
        "keeps workloads off the nodes that run etcd and the API server; a toleration of it, or "
        "operator: Exists without a key (tolerates every taint), lets the scheduler put a "
        "tenant pod there (Kubernetes 'Taints and Tolerations', 'Well-Known Labels, "
        "Annotations and Taints')."
    ),
    fix="Tolerate only the taints of the nodes the platform gives the tenant (with their key).",
    bad="tolerations:\n  - key: node-role.kubernetes.io/control-plane\n    operator: Exists\n",
    good="tolerations:\n  - key: example.com/gpu\n    operator: Exists\n",
)

RULES: tuple[Rule, ...] = (BASELINE, RESTRICTED, SCHEDULING, EXTERNAL_IPS, NO_LEVEL, TOLERATION)
#: taints of control-plane nodes (kubeadm; `master` before Kubernetes 1.24)
CONTROL_PLANE_TAINTS = frozenset({"node-role.kubernetes.io/control-plane",
                                  "node-role.kubernetes.io/master"})

#: kind -> path of its pod spec (apps/v1, batch/v1, core v1).
POD_SPECS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
#: Pod Security Standards, baseline "Capabilities": what may be added.
BASELINE_CAPS = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
#: baseline "Sysctls": the safe set.
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t",
                           "container_engine_t"})
#: restricted "Volume Types".
RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                "persistentVolumeClaim", "projected", "secret"})
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

Path = tuple[str | int, ...]


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _containers(pod: dict[str, Any], base: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for key in CONTAINER_LISTS:
        for i, c in enumerate(_l(pod.get(key))):
            if isinstance(c, dict):
                yield (*base, key, i), c


def baseline(pod: dict[str, Any], base: Path) -> Iterator[tuple[Path, str]]:
    """(key path, what) of every baseline control a pod spec breaks."""
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key) is True:
            yield (*base, key), f"{key}: true shares the node's namespace"
    for i, v in enumerate(_l(pod.get("volumes"))):
        if isinstance(v, dict) and "hostPath" in v:
            where = flux.get_path(v, ("hostPath", "path"))
            yield (*base, "volumes", i, "hostPath"), f"hostPath volume {where} mounts the node"
    psc = _d(pod.get("securityContext"))
    yield from _context_baseline(psc, (*base, "securityContext"))
    for i, s in enumerate(_l(psc.get("sysctls"))):
        if isinstance(s, dict) and s.get("name") not in SAFE_SYSCTLS:
            yield (*base, "securityContext", "sysctls", i), f"unsafe sysctl {s.get('name')}"
    for path, c in _containers(pod, base):
        for j, port in enumerate(_l(c.get("ports"))):
            if isinstance(port, dict) and port.get("hostPort") not in (None, 0):
                yield (*path, "ports", j, "hostPort"), f"hostPort {port['hostPort']}"
        sc = _d(c.get("securityContext"))
        scp: Path = (*path, "securityContext")
        if sc.get("privileged") is True:
            yield (*scp, "privileged"), f"container {c.get('name')} is privileged"
        extra = [str(a) for a in _l(_d(sc.get("capabilities")).get("add"))
                 if str(a).upper().removeprefix("CAP_") not in BASELINE_CAPS]
        if extra:
            yield (*scp, "capabilities", "add"), f"capabilities {', '.join(extra)} added"
        if sc.get("procMount") not in (None, "Default"):
            yield (*scp, "procMount"), f"procMount {sc.get('procMount')} unmasks /proc"
        yield from _context_baseline(sc, scp)


def _context_baseline(sc: dict[str, Any], path: Path) -> Iterator[tuple[Path, str]]:
    if _d(sc.get("seccompProfile")).get("type") == "Unconfined":
        yield (*path, "seccompProfile", "type"), "seccomp Unconfined"
    if _d(sc.get("appArmorProfile")).get("type") == "Unconfined":
        yield (*path, "appArmorProfile", "type"), "AppArmor Unconfined"
    se = _d(sc.get("seLinuxOptions"))
    if str(se.get("type") or "") not in SELINUX_TYPES or se.get("user") or se.get("role"):
        yield (*path, "seLinuxOptions"), "custom SELinux options"
    if _d(sc.get("windowsOptions")).get("hostProcess") is True:
        yield (*path, "windowsOptions", "hostProcess"), "Windows hostProcess"


def restricted(pod: dict[str, Any], base: Path) -> Iterator[tuple[Path, str]]:
    """(key path, what) of every restricted-only control a pod spec breaks."""
    for i, v in enumerate(_l(pod.get("volumes"))):
        if isinstance(v, dict):
            kinds = [k for k in v if k != "name" and k not in RESTRICTED_VOLUMES]
            if kinds and "hostPath" not in kinds:
                yield (*base, "volumes", i), f"volume type {kinds[0]} is not allowed"
    psc = _d(pod.get("securityContext"))
    pod_non_root = psc.get("runAsNonRoot") is True
    pod_seccomp = _d(psc.get("seccompProfile")).get("type") in ("RuntimeDefault", "Localhost")
    if psc.get("runAsUser") == 0:
        yield (*base, "securityContext", "runAsUser"), "runAsUser 0 (root)"
    for path, c in _containers(pod, base):
        name = c.get("name")
        sc = _d(c.get("securityContext"))
        scp: Path = (*path, "securityContext")
        at = scp if "securityContext" in c else path
        if sc.get("allowPrivilegeEscalation") is not False:
            yield at, f"container {name}: allowPrivilegeEscalation is not false"
        if not (sc.get("runAsNonRoot") is True or (pod_non_root and sc.get("runAsNonRoot")
                                                   is not False)):
            yield at, f"container {name}: runAsNonRoot is not true"
        if sc.get("runAsUser") == 0:
            yield (*scp, "runAsUser"), f"container {name}: runAsUser 0 (root)"
        caps = _d(sc.get("capabilities"))
        if "ALL" not in [str(d) for d in _l(caps.get("drop"))]:
            yield at, f"container {name}: capabilities.drop does not hold ALL"
        added = [str(a) for a in _l(caps.get("add")) if str(a) != "NET_BIND_SERVICE"]
        if added:
            yield (*scp, "capabilities", "add"), f"container {name}: adds {', '.join(added)}"
        own = _d(sc.get("seccompProfile")).get("type")
        if own not in ("RuntimeDefault", "Localhost") and not (pod_seccomp and own is None):
            yield at, f"container {name}: no RuntimeDefault/Localhost seccomp profile"


def declared(t: Tenancy) -> bool:
    """Whether the fleet states Pod Security levels at all (a pod-security label on a Namespace
    or a tenant's pod_security answer). Until it does, the restricted level and FF525 are not
    applied (a skip says so): the template's PSA labels are what makes them meaningful."""
    return t.pod_security_declared


def undeclared_skip(t: Tenancy) -> Iterator[Skipped]:
    if not declared(t):
        yield Skipped(".", 1, "pod-security", (
            "no tenant Namespace or answer declares a Pod Security level "
            "(pod-security.kubernetes.io/enforce): the restricted-level checks (FF522) and "
            "FF525 are not applied; baseline, nodeName, priority and externalIPs checks are"))


def level_of(t: Tenancy, namespace: str) -> tuple[str, bool]:
    """(PSA level, whether a label or answer set it) for a tenant namespace."""
    ns = t.namespace_objects.get(namespace)
    level = flux.labels_of(ns.data).get(ENFORCE) if ns is not None else None
    if isinstance(level, str) and level:
        return level, True
    tenant = t.owner_by_answers.get(namespace) or t.tenant_of_ns.get(namespace, "") or (
        t.settings.tenant_name if t.tenant_repo else "")
    answered = (t.settings.tenant_pod_security or {}).get(tenant)
    return (answered, True) if answered else ("restricted", False)


def pod_object(t: Tenancy, obj: KObject) -> Iterator[Finding]:
    """FF521-FF524 and FF528 for one object a tenant applies."""
    key = (obj.id.group, obj.id.kind)
    if key == ("", "Service"):
        ips = flux.get_path(obj.data, ("spec", "externalIPs"))
        if ips:
            yield EXTERNAL_IPS.at(obj, ("spec", "externalIPs"), message=(
                f"{obj.id}: spec.externalIPs {ips} captures traffic to those addresses "
                "cluster-wide"))
        return
    base = POD_SPECS.get(key)
    pod = flux.get_path(obj.data, base) if base else None
    if not isinstance(pod, dict):
        return
    node = pod.get("nodeName")
    if isinstance(node, str) and node:
        yield SCHEDULING.at(obj, (*base, "nodeName"), message=(
            f"{obj.id}: spec.nodeName {node} bypasses the scheduler"))
    prio = pod.get("priorityClassName")
    if isinstance(prio, str) and prio.startswith("system-"):
        yield SCHEDULING.at(obj, (*base, "priorityClassName"), message=(
            f"{obj.id}: priorityClassName {prio} preempts every other workload"))
    for i, tol in enumerate(_l(pod.get("tolerations"))):
        if not isinstance(tol, dict):
            continue
        key = tol.get("key") or ""
        if key in CONTROL_PLANE_TAINTS or (not key and tol.get("operator") == "Exists"):
            what = f"the {key} taint" if key else "every taint (operator Exists, no key)"
            yield TOLERATION.at(obj, (*base, "tolerations", i), message=(
                f"{obj.id}: tolerates {what}: the pod may run on control-plane nodes"))
    level, explicit = level_of(t, obj.id.namespace)
    if level == "privileged":
        return
    for path, what in baseline(pod, base):
        yield BASELINE.at(obj, path, message=f"{obj.id}: {what} (Pod Security baseline)")
    if level != "restricted" or not (explicit or declared(t)):
        return
    where = f"namespace {obj.id.namespace}" if obj.id.namespace else "the tenant's namespace"
    for path, what in restricted(pod, base):
        yield RESTRICTED.at(
            obj, path, severity=None if explicit else Severity.WARNING,
            message=f"{obj.id}: {what} (Pod Security restricted, the level of {where}"
                    + ("" if explicit else ", assumed: no enforce label") + ")")


def namespace_levels(t: Tenancy) -> Iterator[Finding]:
    """FF525: the platform's tenant Namespaces say which Pod Security level they enforce."""
    if not declared(t):
        return
    for _, ns in t.view.of_kind("", "Namespace"):
        if ns.id.name in t.tenant_of_ns and not isinstance(
                flux.labels_of(ns.data).get(ENFORCE), str):
            yield NO_LEVEL.at(ns, ("metadata",), message=(
                f"{ns.id} is a tenant namespace without {ENFORCE}: the cluster default level "
                "applies to the tenant's pods"))
