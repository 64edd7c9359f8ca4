"""Flux postBuild variable substitution, object by object, as kustomize-controller does it.

kustomize-controller substitutes after the kustomize build, one resource at a time
(fluxcd/pkg ``kustomize.SubstituteVariables``): it skips a resource labelled or annotated
``kustomize.toolkit.fluxcd.io/substitute: disabled``, takes the variables of ``substituteFrom``
(ConfigMaps and Secrets in the Kustomization's namespace, later over earlier) then
``substitute`` over them, drops newlines from every value, and runs envsubst over the
resource's ``AsYAML()`` text only when it has at least one variable. ``AsYAML`` is kustomize's
``resource.AsYAML``: the object as JSON turned into YAML by ``sigs.k8s.io/yaml`` (go-yaml v2's
emitter, keys sorted, no comments); the result is read back as YAML and replaces the object.

So what is substituted is a function of the object's data, not of how the files or
kustomize's output spell it: ``as_yaml`` writes that text with libyaml's emitter (go-yaml v2
is a port of libyaml: the same scalar analysis, styles, 80-column width and YAML 1.1 quoting
of ambiguous strings; multi-line strings as literal blocks, as go-yaml v2 writes them), and a
build's objects may come from kustomize or straight from the files (``plain_build``) with the
same result. Secrets' values are never used here (``known_values``): a value substituted from
a Secret could end up quoted in a finding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from flux_fleet.model import Document, KObject
from flux_fleet.validate.loader import load_text

DISABLE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_OPS = (":-", ":=", "-", "=")

#: What a cluster holds of the ConfigMaps and Secrets this repository applies to it:
#: (kind, namespace, name) -> their data, or None when the values cannot be read (SOPS).
Known = dict[tuple[str, str, str], "dict[str, str] | None"]


def substitute(text: str, values: Mapping[str, str]) -> tuple[str, set[str]]:
    """envsubst over one resource's text; returns the text and the names without a value.

    As kustomize-controller's envsubst (fluxcd/pkg ``envsubst``, after drone/envsubst):
    ``${VAR}`` takes the value, ``${VAR:-default}``/``${VAR:=default}`` fall back when unset
    or empty, ``${VAR-default}``/``${VAR=default}`` only when unset, and a default may itself
    hold substitutions (``${CLAIM:-${APP}}``); ``$$`` is a literal ``$`` (so ``$${VAR}`` stays
    ``${VAR}``). Names without a value here are left as written and reported: their values
    may come from ``substituteFrom`` objects that are not in the repository.
    """
    unknown: set[str] = set()
    if "$" not in text:
        return text, unknown
    out, _ = _subst(text, 0, values, unknown, nested=False, budget=[MAX_OBJECT_BYTES])
    return out, unknown


class TooLarge(ValueError):
    """Substitution would make an object larger than the API server accepts."""


#: An object over etcd's request limit (1.5 MiB by default) is refused by the API server;
#: a value repeated many times could otherwise grow one object without bound (a repository
#: is untrusted input). Output past this many characters stops the substitution.
MAX_OBJECT_BYTES = 3 * 1024 * 1024


def _subst(text: str, i: int, values: Mapping[str, str], unknown: set[str],
           nested: bool, budget: list[int]) -> tuple[str, int]:
    """Substitute from ``i`` to the end (or, ``nested``, to the ``}`` closing a default);
    ``budget``: characters the whole output may still take (TooLarge past it)."""
    out: list[str] = []
    n = len(text)
    while i < n:
        if budget[0] < 0:
            raise TooLarge(f"substitution makes the object larger than {MAX_OBJECT_BYTES:,} "
                           "characters (the API server refuses objects over 1.5 MiB)")
        c = text[i]
        if nested and c == "}":
            return "".join(out), i
        if c != "$":
            j = text.find("$", i)
            if nested:
                k = text.find("}", i)
                j = k if j < 0 or (0 <= k < j) else j
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
            continue
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if not text.startswith("${", i):
            out.append("$")
            i += 1
            continue
        name = _NAME.match(text, i + 2)
        if name is None:
            out.append("${")
            i += 2
            continue
        j = name.end()
        key = name.group(0)
        op = next((o for o in _OPS if text.startswith(o, j)), None)
        if op is None and j < n and text[j] == "}":
            if key in values:
                out.append(values[key])
                budget[0] -= len(values[key])
            else:
                unknown.add(key)
                out.append(text[i:j + 1])
            i = j + 1
            continue
        if op is None:
            out.append(text[i:j])
            i = j
            continue
        default, end = _subst(text, j + len(op), values, unknown, nested=True, budget=budget)
        if end >= n:  # no closing brace: not a substitution
            out.append(text[i:j + len(op)])
            i = j + len(op)
            continue
        value = values.get(key)
        fallback = not value if op.startswith(":") else value is None
        out.append(default if fallback else str(value))
        budget[0] -= len(out[-1])
        i = end + 1
    return "".join(out), i


def known_values(objs: Iterable[KObject]) -> Known:
    """The ConfigMaps' data among built objects, newlines dropped as the controller drops
    them. Secrets are known to exist but their values are not used: a value substituted
    from a Secret could end up quoted in a finding, and a report must never carry a
    Secret's content (docs/security.md)."""
    out: Known = {}
    for obj in objs:
        if obj.id.group or obj.id.kind not in ("ConfigMap", "Secret"):
            continue
        key = (obj.id.kind, obj.id.namespace, obj.id.name)
        raw = obj.data.get("data")
        if obj.id.kind == "Secret" or "sops" in obj.data:
            out[key] = None
        else:
            out[key] = ({str(k): str(v).replace("\n", "") for k, v in raw.items()}
                        if isinstance(raw, dict) else {})
    return out


def substitute_from(post: Mapping[str, Any], namespace: str,
                    known: Known) -> dict[str, str] | None:
    """The variables ``substituteFrom`` gives, as kustomize-controller reads them: each
    ConfigMap/Secret in the Kustomization's namespace, later entries over earlier ones; an
    ``optional`` one may be missing. None when one cannot be read here (not applied by this
    repository to this cluster as far as the tree has been followed, or encrypted)."""
    values: dict[str, str] = {}
    for ref in post.get("substituteFrom") or []:
        if not isinstance(ref, dict):
            return None
        key = (str(ref.get("kind") or ""), namespace, str(ref.get("name") or ""))
        if key not in known:
            if ref.get("optional") is True:
                continue
            return None
        data = known[key]
        if data is None:
            return None
        values.update(data)
    return values


@dataclass(frozen=True)
class Variables:
    """What one Flux Kustomization substitutes with."""

    values: dict[str, str]
    resolved: bool  # every substituteFrom entry could be read here (or there is none)


def variables(spec: Mapping[str, Any], namespace: str,
              known: Known | None = None) -> Variables | None:
    """The variables of ``spec.postBuild``; None when the controller substitutes nothing
    (no postBuild, or no variable at all: envsubst runs only with at least one)."""
    post = spec.get("postBuild")
    if not isinstance(post, dict):
        return None
    raw = post.get("substitute") if isinstance(post.get("substitute"), dict) else {}
    inline = {str(k): str(v).replace("\n", "") for k, v in raw.items()}
    if not post.get("substituteFrom"):
        return Variables(inline, True) if inline else None
    found = substitute_from(post, namespace, known or {})
    values = {**(found or {}), **inline}  # postBuild.substitute wins over substituteFrom
    if found is not None and not values:
        return None  # every source read, none holds a variable: nothing is substituted
    return Variables(values, found is not None)


class _FluxDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's safe emitter writing strings as go-yaml v2 does (multi-line: literal)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_FluxDumper.add_representer(str, _str)


def as_yaml(data: Any) -> str:
    """The text kustomize-controller substitutes in: ``resource.AsYAML()`` of the object."""
    return yaml.dump(data, Dumper=_FluxDumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=80)


def disabled(data: Mapping[str, Any]) -> bool:
    """Labelled or annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled``."""
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        return False
    return any(isinstance(m, dict) and m.get(DISABLE_KEY) == "disabled"
               for m in (meta.get("labels"), meta.get("annotations")))


def _mentions(data: Any) -> bool:
    """Whether any key or string of the object holds a ``$`` (JSON cannot escape it)."""
    return "$" in json.dumps(data, ensure_ascii=False, default=str)


@dataclass
class Memo:
    """Work shared by every build of a run: clusters substitute the same objects of a shared
    base, mostly with the same values. Keyed by object identity (the objects stay alive in
    the run's parse memo, and nothing changes an object once parsed)."""

    texts: dict[int, tuple[Any, str | None]] = field(default_factory=dict)
    lists: dict[int, tuple[Any, tuple[int, ...]]] = field(default_factory=dict)
    parsed: dict[tuple[str, str], tuple[list[Document], str]] = field(default_factory=dict)

    def text(self, data: Any) -> str | None:
        """``as_yaml(data)`` when it holds a ``$``, else None (nothing to substitute)."""
        found = self.texts.get(id(data))
        if found is None or found[0] is not data:
            found = self.texts[id(data)] = (data, as_yaml(data) if _mentions(data) else None)
        return found[1]

    def candidates(self, documents: Sequence[Document]) -> tuple[int, ...]:
        """The positions of the objects substitution can change: those that mention ``$``
        and do not opt out; asked once per parsed build, not once per cluster."""
        found = self.lists.get(id(documents))
        if found is None or found[0] is not documents:
            found = self.lists[id(documents)] = (documents, tuple(
                i for i, doc in enumerate(documents)
                if isinstance(doc.data, dict) and not disabled(doc.data)
                and self.text(doc.data) is not None))
        return found[1]

    def parse(self, text: str, file: str) -> tuple[list[Document], str]:
        """The substituted text read back (its first document, as go-yaml's Unmarshal
        reads it) and the problem of reading it, if any."""
        key = (file, text)
        found = self.parsed.get(key)
        if found is None:
            docs, problems = load_text(text, file)
            problem = f"the result is not valid YAML: {problems[0].message}" if problems else ""
            if not problem and (not docs or not isinstance(docs[0].data, dict)):
                problem = "the substituted object is not a mapping"
            found = self.parsed[key] = (docs[:1] if not problem else [], problem)
        return found


@dataclass
class Outcome:
    """One build's objects after substitution."""

    documents: list[Document]
    unknown: set[str]
    problems: list[str]


def apply(documents: Sequence[Document], vars_: Variables, memo: Memo) -> Outcome:
    """Substitute every object of a build that does not opt out, as the controller does."""
    unknown: set[str] = set()
    problems: list[str] = []
    changed: dict[int, Document | None] = {}
    for i in memo.candidates(documents):
        doc = documents[i]
        text = memo.text(doc.data)
        assert text is not None
        try:
            new, missing = substitute(text, vars_.values)
        except TooLarge as err:
            problems.append(str(err))
            changed[i] = None
            continue
        unknown |= missing
        if new == text:
            continue
        parsed, problem = memo.parse(new, doc.file)
        if problem:
            problems.append(problem)
            changed[i] = None
        else:
            changed[i] = replace(parsed[0], index=doc.index, line=doc.line)
    if not changed:
        return Outcome(list(documents), unknown, problems)
    out = [changed.get(i, doc) for i, doc in enumerate(documents)]
    return Outcome([d for d in out if d is not None], unknown, problems)
