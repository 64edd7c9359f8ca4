"""Objects that passed every schema check in an earlier run are not checked again.

After a lifecycle command almost every object of a fleet is what it was: the same content
checked against the same schemas gives the same (empty) result. A run remembers the content
of each object that passed (``SchemaStore.remember_clean``: no finding, no skip) as a
digest, and the next run skips an object whose digest is there. The set is valid for one
*signature*: flux-fleet's version and the code of the schema checks, the shipped schemas,
the schemas the repository's own CRDs added, the enum extensions, the pinned Flux version and
``--strict``; anything else gets a set of its own. An object with a finding is never in the
set, so every finding is found and reported again, at its place.

Only the schema checks: references and tenancy read the whole fleet and always run. The set
is kept in the build cache (``build_cache``: an HMAC-signed entry under the repository's
``.git/flux-fleet-cache/``), so one planted in a repository is ignored like any forged entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flux_fleet.validate.schema_store import SchemaStore, content_digest

MAX_DIGESTS = 300_000  # ~10 MB: more than a 20 x 1,000 fleet's distinct objects
#: the modules whose code decides what a schema check finds
_CODE = ("checks/schema.py", "schema_store.py", "fastschema.py", "cel.py", "cel_subset.py",
         "repo_crds.py", "flux_version.py", "passed.py")


def signature(store: SchemaStore, strict: bool) -> str:
    """What the schema checks' results depend on, besides the objects themselves."""
    import flux_fleet

    h = hashlib.sha256(f"{flux_fleet.__version__}\0{strict}\0{store.path}\0"
                       f"{_version('jsonschema')}\0{_version('cel-python')}".encode())
    here = Path(__file__).resolve().parent
    for rel in (*_CODE, str(store.path / "index.json")):
        path = here / rel
        try:
            h.update(rel.encode() + b"\0" + path.read_bytes())
        except OSError:
            h.update(rel.encode() + b"\0-")
    h.update(json.dumps(store.registered(), sort_keys=True, default=str).encode())
    h.update(json.dumps({k: sorted(v) for k, v in store.enum_extensions.items()},
                        sort_keys=True).encode())
    h.update(repr(store.flux_version).encode())
    return h.hexdigest()


def _version(package: str) -> str:
    """An installed library's version: a new one may judge an object differently."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "-"


@dataclass
class Passed:
    """One run's use of the set: loaded into the store before the checks, saved after."""

    cache: Any  # build_cache.BuildCache
    key: str
    before: frozenset[str]

    @classmethod
    def load(cls, cache: Any, store: SchemaStore, strict: bool) -> Passed:
        key = cache.derived_key("schema-passed", signature(store, strict))
        text = cache.get(key)
        before = frozenset(text.split("\n")) if text else frozenset()
        store.passed = before
        return cls(cache, key, before)

    def save(self, store: SchemaStore) -> None:
        """Keep what passed in this run (and before, up to the bound); nothing if no change."""
        found = {content_digest(k) for k in store.clean_keys()}
        if found <= self.before:
            return
        kept = sorted(found) + sorted(self.before - found)
        self.cache.put(self.key, "\n".join(kept[:MAX_DIGESTS]))
