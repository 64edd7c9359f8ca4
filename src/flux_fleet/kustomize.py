"""The one wrapper around the kustomize binary.

``kustomize build`` when a standalone kustomize is on PATH, else ``kubectl kustomize``; always
with load restrictions off, as kustomize-controller builds. Builds run offline: git and HTTP
are pointed at a dead proxy so a remote base can never reach the network (the caller detects
remote bases beforehand and skips them; this is the safety net). Failures raise
KustomizeError carrying the command line and stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from flux_fleet.errors import ToolError

LOAD_RESTRICTOR = ("--load-restrictor", "LoadRestrictionsNone")
_DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: connections fail at once


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
    return env


def build(directory: Path, *, timeout: float = 120.0, offline: bool = True) -> str:
    """``kustomize build DIR`` with load restrictions off; returns the YAML stream."""
    base = command()
    if base is None:
        raise KustomizeError(["kustomize", "build", str(directory)], 127,
                             "neither kustomize nor kubectl is on PATH")
    cmd = [*base, str(directory), *LOAD_RESTRICTOR]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              env=_offline_env() if offline else None)
    except subprocess.TimeoutExpired as err:
        raise KustomizeError(cmd, 124, f"timed out after {timeout:.0f}s") from err
    except OSError as err:
        raise KustomizeError(cmd, 127, str(err)) from err
    if done.returncode != 0:
        raise KustomizeError(cmd, done.returncode, done.stderr)
    return done.stdout
