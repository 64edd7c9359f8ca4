"""Error types shaped by who reads them; exit codes are decided in exactly one place (cli.py).

Exit codes: 0 clean, 1 findings (or conflicts left by an update), 2 usage or input error,
3 an external tool failed or an unexpected internal error.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class FleetError(Exception):
    """Root of every error flux-fleet raises on purpose; printed without a traceback."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, hint: str = "") -> None:
        # Exception directly: in ToolError the next class in the MRO is CalledProcessError,
        # whose __init__ needs (returncode, cmd).
        Exception.__init__(self, message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.hint})" if self.hint else self.message


class UserError(FleetError, ValueError):
    """Bad input from the user (answers, flags, files): one line per problem, exit 2."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str = "", problems: Sequence[str] = ()) -> None:
        super().__init__(message, hint)
        self.problems = tuple(problems)


class FindingsError(FleetError):
    """The command ran but found problems the user must look at (exit 1)."""

    exit_code = EXIT_FINDINGS


class ToolError(FleetError, subprocess.CalledProcessError):
    """An external tool (git, copier, kustomize, kubeconform, flux) failed."""

    exit_code = EXIT_INTERNAL

    def __init__(self, tool: str, cmd: Sequence[str], returncode: int, stderr: str = "") -> None:
        FleetError.__init__(self, f"{tool} failed (exit {returncode}): {stderr.strip()[:2000]}")
        subprocess.CalledProcessError.__init__(self, returncode, list(cmd), stderr=stderr)
        self.tool = tool

    def __str__(self) -> str:
        return self.message
