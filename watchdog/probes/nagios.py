"""Nagios plugin output: the first line is the message, perfdata follows `|`.

Perfdata items look like `'label with spaces'=12.5ms;warn;crit;min;max`;
values are converted to base units (seconds, bytes). `%` and `c` (counter)
values are kept as written.
"""

from __future__ import annotations

import math
import re

STATUS_NAMES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
UNKNOWN = 3

# Byte multiples are 1024-based, as the Nagios plugins (check_disk, check_swap) use them.
UOM_FACTORS = {
    "": 1.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "%": 1.0,
    "B": 1.0,
    "KB": 1024.0,
    "MB": 1024.0**2,
    "GB": 1024.0**3,
    "TB": 1024.0**4,
    "c": 1.0,
}
_PERF_RE = re.compile(r"""\s*(?:'((?:[^']|'')+)'|([^'=\s][^=\s]*))=([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|U))([a-zA-Z%]*)(?:;[^\s]*)?""")


def nagios_status(returncode: int | None) -> int:
    """0-3 as the plugin said; anything else (incl. killed by a signal) is UNKNOWN."""
    return returncode if returncode in STATUS_NAMES else UNKNOWN  # type: ignore[return-value]


def parse_perfdata(text: str) -> list[tuple[str, float]]:
    """Items that parse, in order; malformed items and `U` values are skipped."""
    out: list[tuple[str, float]] = []
    pos = 0
    while pos < len(text):
        m = _PERF_RE.match(text, pos)
        if not m:
            # skip one malformed token and carry on with the next
            nxt = re.search(r"\s+", text[pos:])
            if not nxt:
                break
            pos += nxt.end()
            continue
        pos = m.end()
        quoted, bare, value, uom = m.groups()
        label = quoted.replace("''", "'") if quoted is not None else bare
        factor = UOM_FACTORS.get(uom)
        if value == "U" or factor is None:
            continue
        v = float(value) * factor
        if math.isfinite(v):
            out.append((label, v))
    return out


def parse_output(text: str) -> tuple[str, list[tuple[str, float]]]:
    """(message = first line's text, perfdata from the first line and the long output)."""
    lines = text.splitlines()
    if not lines:
        return "", []
    first, _, perf = lines[0].partition("|")
    perf_parts = [perf] if perf else []
    # long output: text lines, then optionally `| more perfdata` continuing to the end
    rest = "\n".join(lines[1:])
    if "|" in rest:
        perf_parts.append(rest.split("|", 1)[1])
    perfdata: list[tuple[str, float]] = []
    for part in perf_parts:
        perfdata.extend(parse_perfdata(part.replace("\n", " ")))
    return first.strip(), perfdata
