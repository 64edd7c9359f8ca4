"""Which Flux version a fleet says its clusters run, so API removals are judged against it.

Flux removes API versions in a given minor release (``schemas_build.FLUX_UNSERVED``). A fleet
that pins an older Flux still has them served; there an old ``apiVersion`` is a debt to pay
before the upgrade, not a manifest the cluster rejects. The version is read where installers
write it: the header ``flux bootstrap`` / ``flux install --export`` puts in
``gotk-components.yaml`` (``# Flux Version: v2.4.0``), a FluxInstance's (or the flux-instance
chart's) ``distribution.version`` (a version or a semver range such as ``2.9.x``), and the
flux-fleet answers' ``flux_version``. The lowest one found speaks for the fleet.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flux_fleet.model import KObject

_HEADER = re.compile(rb"^#\s*Flux Version:\s*v?(\d+)\.(\d+)", re.MULTILINE)
_VERSION = re.compile(r"(?:^|[^\d.])v?(\d+)\.(\d+|x|\*)")
_REMOVED = re.compile(r"Flux (\d+)\.(\d+)")


@dataclass(frozen=True)
class DeclaredVersion:
    major: int
    minor: int
    where: str  # the file that says so

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def _parse(text: Any) -> tuple[int, int] | None:
    if not isinstance(text, str):
        return None
    found = _VERSION.search(text.strip())
    if not found or not found.group(2).isdigit():
        return None  # "2.x": any 2.y, the latest as far as removals go
    return int(found.group(1)), int(found.group(2))


def _distribution(obj: KObject) -> Any:
    spec = obj.data.get("spec") if isinstance(obj.data.get("spec"), dict) else {}
    if obj.id.kind == "FluxInstance":
        dist = spec.get("distribution")
    else:  # a HelmRelease of the flux-instance chart
        values = spec.get("values") if isinstance(spec.get("values"), dict) else {}
        instance = values.get("instance") if isinstance(values.get("instance"), dict) else {}
        dist = instance.get("distribution")
    return dist.get("version") if isinstance(dist, dict) else None


def declared(root: Path, listing: Iterable[str], objects: Iterable[KObject],
             answers: Mapping[str, Any] | None) -> DeclaredVersion | None:
    """The lowest Flux version the fleet declares, or None (then: the current release)."""
    found: list[DeclaredVersion] = []
    for file in listing:
        if file.endswith("flux-system/gotk-components.yaml"):
            path = root / file
            try:  # a regular file only: a FIFO planted under that name would block the read
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
                with open(path, "rb") as fh:
                    head = fh.read(2048)
            except OSError:
                continue
            match = _HEADER.search(head)
            if match:
                found.append(DeclaredVersion(int(match.group(1)), int(match.group(2)), file))
    for obj in objects:
        if obj.id.kind in ("FluxInstance", "HelmRelease"):
            parsed = _parse(_distribution(obj))
            if parsed:
                found.append(DeclaredVersion(*parsed, obj.document.file))
    parsed = _parse((answers or {}).get("flux_version"))
    if parsed:
        found.append(DeclaredVersion(*parsed, ".copier-answers.yml"))
    return min(found, key=lambda v: (v.major, v.minor)) if found else None


def still_served(removed_in: str, version: DeclaredVersion | None) -> bool:
    """Whether a version removed in ``removed_in`` ("... (Flux 2.8)") is still served by
    the declared Flux."""
    match = _REMOVED.search(removed_in or "")
    if version is None or not match:
        return False
    return (version.major, version.minor) < (int(match.group(1)), int(match.group(2)))
