"""Error text from tools, made fit for every report format.

kustomize's errors can quote what it read: a line of an env file, a document it could not
parse, a generator input. Findings end up in uploaded SARIF and public annotations, so tool
text is cut to one short line, control characters go, and long quoted runs (content, not
names) are replaced by a marker before any reporter sees them.
"""

from __future__ import annotations

import re

LIMIT = 300  # characters of tool text kept in a finding
_QUOTED = re.compile(r"""("[^"\n]{81,}"|'[^'\n]{81,}'|`[^`\n]{81,}`)""")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# kustomize's generator errors quote their inputs (api/kv/kv.go): "literal sources [k=v ...]",
# "invalid literal source <literal>, expected key=value": values of a generator, never shown
_GENERATOR = (
    (re.compile(r"literal sources \[[^\]]*\]?"), "literal sources [<values elided>]"),
    (re.compile(r"invalid literal source .*?(, expected key=value|$)"),
     r"invalid literal source <elided>\1"),
)


def error_text(text: str, limit: int = LIMIT) -> str:
    """One line of at most ``limit`` characters, with long quoted content elided."""
    line = " ".join(text.split("\n", 1)[0].split())
    line = _CONTROL.sub("", line)
    for pattern, replacement in _GENERATOR:
        line = pattern.sub(replacement, line)
    line = _QUOTED.sub(lambda m: m.group(0)[0] + "<content elided>" + m.group(0)[0], line)
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"
