"""Lookup in the schema store, with validators compiled once per store instance.

A run creates one SchemaStore and passes it around; every cache lives on the instance (no
module-level state), so two stores (e.g. the bundled one and a test's tmp copy) never mix.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

from flux_fleet.errors import UserError
from flux_fleet.resources import schemas_dir
from flux_fleet.validate.cel import CelEvaluator, CelRule, collect_rules
from flux_fleet.validate.fastschema import compile_schema
from flux_fleet.validate.schemas_build import INDEX_FILE


@dataclass(frozen=True)
class KindInfo:
    """What the store's index says about one apiVersion/kind."""

    api_version: str
    kind: str
    file: str | None
    namespaced: bool
    served: bool
    source: str  # "crd": every kind of the group is in the store; "kubernetes": a selection
    removed_in: str = ""
    use: str = ""
    cel: tuple[CelRule, ...] | None = None  # None: the index does not say (found on compile)


def _rules_of(row: dict[str, Any]) -> tuple[CelRule, ...] | None:
    """The CEL rules the index lists for a kind (a store built before they were listed: None)."""
    if row.get("file") and "cel" not in row:
        return None if row.get("source", "crd") == "crd" else ()
    return tuple(CelRule(tuple(r["where"]), r["rule"], r["message"]) for r in row.get("cel", ()))


DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def content_digest(key: tuple[str, str, str]) -> str:
    """A short, stable name for an (apiVersion, kind, content) key across runs."""
    return hashlib.blake2b("\0".join(key).encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


class SchemaStore:
    """The JSON Schemas in kubeconform's layout, plus index.json (scope, served, successors)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else schemas_dir()
        index = self._read(INDEX_FILE)
        rows = index.get("kinds") or {}
        self._rows: dict[str, dict[str, Any]] = rows if isinstance(rows, dict) else {}
        self._infos: dict[tuple[str, str], KindInfo | None] = {}  # built on first lookup
        self.complete_groups = frozenset(index.get("complete_groups") or ())
        self.cel = CelEvaluator()
        self._validators: dict[str, Any] = {}
        self._fast: dict[str, Callable[[Any], bool] | None] = {}
        self._rules: dict[str, tuple[CelRule, ...]] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        self._clean: set[tuple[str, str, str]] = set()
        #: digests of contents that passed in an earlier run with the same schemas (passed.py)
        self.passed: frozenset[str] = frozenset()
        #: kind -> enum values the cluster's CRDs accept beyond the shipped schema's
        #: (the Flux Operator patches Alert and Receiver to watch its own kinds)
        self.enum_extensions: dict[str, frozenset[str]] = {}
        self.flux_version: Any = None  # flux_version.DeclaredVersion the fleet pins, if any
        self._lock = Lock()
        # how often an object was fully checked ("checked") or known clean ("repeat"), and
        # how the schema part was decided ("fast": compiled yes/no, "located": jsonschema)
        self.counts: Counter[str] = Counter()

    def _read(self, rel: str) -> dict[str, Any]:
        target = self.path / rel
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"schema store {self.path}: cannot read {rel}: {exc}",
                            hint="regenerate it with `flux-fleet schemas build`") from exc
        if not isinstance(data, dict):
            raise UserError(f"schema store {self.path}: {rel} is not a JSON object")
        return data

    def info(self, api_version: str, kind: str) -> KindInfo | None:
        key = (api_version, kind)
        if key not in self._infos:
            row = (self._rows.get(api_version) or {}).get(kind)
            self._infos[key] = None if not isinstance(row, dict) else KindInfo(
                api_version=api_version, kind=kind, file=row.get("file"),
                namespaced=bool(row.get("namespaced")), served=bool(row.get("served")),
                source=str(row.get("source", "crd")), removed_in=row.get("removed_in", ""),
                use=row.get("use", ""), cel=_rules_of(row))
        return self._infos[key]

    def _all(self) -> list[KindInfo]:
        found = (self.info(api_version, kind)
                 for api_version, kinds in self._rows.items() for kind in kinds)
        return [i for i in found if i is not None]

    def known_kind(self, api_version: str, kind: str) -> bool:
        """True when the store has a schema for this served apiVersion/kind."""
        info = self.info(api_version, kind)
        return info is not None and info.served and info.file is not None

    def is_namespaced(self, api_version: str, kind: str) -> bool | None:
        """Scope of a kind (any version of its group counts); None when the store cannot tell."""
        info = self.info(api_version, kind)
        if info is not None:
            return info.namespaced
        group = api_version.rpartition("/")[0]
        for row in self._all():
            if row.kind == kind and row.api_version.rpartition("/")[0] == group:
                return row.namespaced
        return None

    def covers_group(self, api_version: str) -> bool:
        """True when every kind of this apiVersion's group is in the store (Flux CRD groups)."""
        return api_version.rpartition("/")[0] in self.complete_groups

    def has_schema(self, api_version: str, kind: str) -> bool:
        info = self.info(api_version, kind)
        return info is not None and info.file is not None

    def validator(self, api_version: str, kind: str) -> Any | None:
        """jsonschema's validator of a kind (format checks off), built on first use: only
        objects the fast check rejects need it, to say where and why."""
        info = self.info(api_version, kind)
        if info is None or info.file is None:
            return None
        found = self._validators.get(info.file)
        if found is None:
            with self._lock:
                found = self._validators.get(info.file)
                if found is None:
                    import jsonschema.validators  # ~40 ms: only runs that have findings

                    schema = self._loaded(info.file)
                    cls = jsonschema.validators.validator_for(
                        schema, default=jsonschema.Draft202012Validator)
                    found = self._validators[info.file] = cls(schema)  # formats: annotations
        return found

    def _loaded(self, rel: str) -> dict[str, Any]:
        schema = self._schemas.get(rel)
        if schema is None:
            schema = self._schemas[rel] = self._read(rel)
        return schema

    def fast_check(self, api_version: str, kind: str) -> Callable[[Any], bool] | None:
        """A compiled valid/invalid test of the kind's schema, None when not compilable.

        Our own closures (``fastschema``), not jsonschema-rs: bench/bench_libraries.py
        measured jsonschema-rs 14x faster per object but its whole-schema compile costs
        more than a default fleet's checks take, and at scale this is not where the time
        goes (docs/performance.md, "Libraries against our own fast paths")."""
        info = self.info(api_version, kind)
        if info is None or info.file is None:
            return None
        if info.file not in self._fast:
            with self._lock:
                if info.file not in self._fast:
                    schema = self._loaded(info.file)
                    self._fast[info.file] = (compile_schema(schema)
                                             if schema.get("$schema", DRAFT_2020_12)
                                             in (DRAFT_2020_12, DRAFT_2020_12 + "#")
                                             else None)  # fastschema follows 2020-12 only
        return self._fast[info.file]

    def object_meta_defs(self) -> dict[str, Any]:
        """The ObjectMeta definitions every schema of the store embeds (from a shipped one)."""
        for info in self._all():
            if info.file and info.source == "crd":
                defs = self._loaded(info.file).get("$defs")
                if isinstance(defs, dict):
                    return defs
        return {}

    def register(self, api_version: str, kind: str, schema: dict[str, Any], namespaced: bool,
                 origin: str) -> None:
        """A schema the repository itself ships (its own CRD) for a kind the store lacks."""
        rel = f"<repository {origin}>/{api_version}/{kind}"
        with self._lock:
            self._schemas[rel] = schema
            self._infos[(api_version, kind)] = KindInfo(
                api_version=api_version, kind=kind, file=rel, namespaced=namespaced,
                served=True, source="repository", cel=())

    def known_clean(self, key: tuple[str, str, str]) -> bool:
        """True when an object with this (apiVersion, kind, content) already passed every
        check: in this run, or in an earlier one with the same schemas (``passed``)."""
        if key in self._clean:
            return True
        if self.passed and content_digest(key) in self.passed:
            self._clean.add(key)
            self.counts["passed before"] += 1
            return True
        return False

    def remember_clean(self, key: tuple[str, str, str]) -> None:
        self._clean.add(key)

    def clean_keys(self) -> frozenset[tuple[str, str, str]]:
        return frozenset(self._clean)

    def registered(self) -> dict[str, dict[str, Any]]:
        """The schemas the repository's own CRDs gave (``register``), by their origin."""
        with self._lock:
            return {rel: schema for rel, schema in self._schemas.items()
                    if rel.startswith("<repository ")}

    def cel_rules(self, api_version: str, kind: str) -> tuple[CelRule, ...]:
        """The CEL rules of a kind's schema: from the index, or found in the schema once."""
        info = self.info(api_version, kind)
        if info is None or info.file is None:
            return ()
        if info.cel is not None:
            return info.cel
        rules = self._rules.get(info.file)
        if rules is None:
            rules = self._rules[info.file] = collect_rules(self._loaded(info.file))
        return rules

    def kinds(self) -> list[KindInfo]:
        return sorted(self._all(), key=lambda k: (k.api_version, k.kind))
