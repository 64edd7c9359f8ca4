"""The one wrapper around the kustomize binary.

``kustomize build`` when a standalone kustomize is on PATH, else ``kubectl kustomize``; always
with load restrictions off, as kustomize-controller builds. Builds run offline: in a network
namespace of their own (``unshare -rn``) where the platform allows it, so no connection can be
made at all, loopback included; and always with git and HTTP pointed at a dead proxy and git's
remote protocols disabled (the caller detects remote bases beforehand and skips them; this is
the safety net). Each process is bounded: an address-space limit (``MEMORY_LIMIT``) and a
timeout. Failures raise KustomizeError carrying the command line and stderr.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from flux_fleet.errors import ToolError

LOAD_RESTRICTOR = ("--load-restrictor", "LoadRestrictionsNone")
_DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: connections fail at once
# Go reserves about 1 GiB of address space before it reads a file; 4 GiB leaves a large fleet's
# build room and stops a hostile one (a YAML bomb) long before it takes the machine.
MEMORY_LIMIT = 4 << 30
_UNSHARE = ("unshare", "--map-root-user", "--net")


class KustomizeError(ToolError):
    """kustomize could not build a directory (or is not installed)."""

    def __init__(self, cmd: Sequence[str], returncode: int, stderr: str = "") -> None:
        super().__init__("kustomize", cmd, returncode, stderr)

    @property
    def first_error(self) -> str:
        """kustomize's first meaningful error line, without log prefixes."""
        return first_error_line(self.stderr or "")


def first_error_line(stderr: str) -> str:
    """The line of kustomize/kubectl stderr that says what is wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.endswith("err=<") and i + 1 < len(lines):  # kubectl's multi-line log value
            return lines[i + 1]
        if 'err="' in line:  # kubectl's structured log: ... "command failed" err="..."
            return line.split('err="', 1)[1].rstrip('"').replace('\\"', '"')
        low = line.lower()
        if low.startswith("error:"):
            return line.split(":", 1)[1].strip()
    return lines[0] if lines else "kustomize failed without a message"


def command() -> list[str] | None:
    """The build command available here, or None when neither kustomize nor kubectl is."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env[name] = _DEAD_PROXY
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_ALLOW_PROTOCOL"] = "file"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    # git config given by the environment wins over files: no protocol may fetch but file
    env["GIT_CONFIG_COUNT"] = "2"
    env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"] = "protocol.allow", "never"
    env["GIT_CONFIG_KEY_1"], env["GIT_CONFIG_VALUE_1"] = "protocol.file.allow", "always"
    env["GIT_SSH_COMMAND"] = "false"
    return env


_ASKING = threading.Lock()  # the builds' threads ask at once: one probe, not one each


def isolation() -> tuple[str, ...]:
    """The prefix that runs a command without network (``unshare -rn``), or () where the
    platform refuses unprivileged namespaces; asked once per process (it does not change)."""
    with _ASKING:
        return _isolation()


@functools.lru_cache(maxsize=1)
def _isolation() -> tuple[str, ...]:
    if shutil.which("unshare") is None:
        return ()
    try:
        done = subprocess.run([*_UNSHARE, "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    return _UNSHARE if done.returncode == 0 else ()


def _limit_memory() -> None:  # runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _out_of_memory(stderr: str) -> bool:
    return ("out of memory" in stderr or "cannot allocate memory" in stderr
            or "failed to reserve" in stderr)


def build(directory: Path, *, timeout: float = 120.0, offline: bool = True) -> str:
    """``kustomize build DIR`` with load restrictions off; returns the YAML stream."""
    base = command()
    if base is None:
        raise KustomizeError(["kustomize", "build", str(directory)], 127,
                             "neither kustomize nor kubectl is on PATH")
    cmd = [*(isolation() if offline else ()), *base, str(directory), *LOAD_RESTRICTOR]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              env=_offline_env() if offline else None,
                              stdin=subprocess.DEVNULL, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired as err:
        raise KustomizeError(cmd, 124, f"timed out after {timeout:.0f}s (the time limit of "
                             "one build)") from err
    except OSError as err:
        raise KustomizeError(cmd, 127, str(err)) from err
    if done.returncode != 0:
        stderr = done.stderr
        if _out_of_memory(stderr):
            stderr = (f"error: ran out of memory (the limit of one build is "
                      f"{MEMORY_LIMIT >> 30} GiB)")
        raise KustomizeError(cmd, done.returncode, stderr)
    return done.stdout
