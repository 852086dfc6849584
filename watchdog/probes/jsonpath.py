"""A small JSON path: `$`, `.name`, `[3]`, `["name with spaces"]`. No filters, no eval."""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN_RE = re.compile(r'\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?[0-9]+)\]|\[("(?:[^"\\]|\\.)*")\]|\[(\'[^\']*\')\]')
_MISSING = object()


def parse_json_path(path: str) -> tuple[str | int, ...]:
    """`$.items[0].name` -> ("items", 0, "name"); raises ValueError."""
    if not path.startswith("$"):
        raise ValueError("JSON path must start with $")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _TOKEN_RE.match(path, pos)
        if not m:
            raise ValueError(f"invalid JSON path at position {pos + 1}: use $.name, [index] or [\"name\"]")
        name, index, dquoted, squoted = m.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        elif dquoted is not None:
            steps.append(json.loads(dquoted))
        else:
            steps.append(squoted[1:-1])
        pos = m.end()
    return tuple(steps)


def lookup(doc: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at `steps`, or `MISSING`."""
    cur = doc
    for step in steps:
        if isinstance(step, int):
            if not isinstance(cur, list) or not -len(cur) <= step < len(cur):
                return _MISSING
            cur = cur[step]
        else:
            if not isinstance(cur, dict) or step not in cur:
                return _MISSING
            cur = cur[step]
    return cur


MISSING = _MISSING
