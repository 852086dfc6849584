"""The functions a template may call (`_FUNCS`): Go text/template builtins and Prometheus's
template functions. This table is the whole surface a template can reach.

Part of watchdog.promql.template (split for size; behaviour unchanged).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping

from watchdog.promql.template_format import (
    GoDuration, GoTime, QuerySample, _g4, _inner, go_float, go_quote, go_sprintf, go_type, truth,
)
from watchdog.promql.template_time import go_date, since, time_in_zone


# --------------------------------------------------------------------------- functions


def _to_float(v: Any) -> float:
    """Prometheus's convertToFloat: float, int, or a string strconv.ParseFloat accepts."""
    if isinstance(v, GoDuration):
        return v.seconds
    if isinstance(v, bool):
        raise TypeError("can't convert bool to float")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        t = v
        if "_" in t or not re.fullmatch(r"[+-]?(?:inf(?:inity)?|nan|[0-9.]+(?:[eE][+-]?[0-9]+)?|0[xX][0-9a-fA-F.]+(?:[pP][+-]?[0-9]+)?)", t, re.I):
            raise ValueError(f'strconv.ParseFloat: parsing {go_quote(v)}: invalid syntax')
        try:
            return float.fromhex(t) if t.lower().lstrip("+-").startswith("0x") else float(t)
        except ValueError:
            raise ValueError(f'strconv.ParseFloat: parsing {go_quote(v)}: invalid syntax') from None
    raise TypeError(f"can't convert {go_type(v)} to float")


def _str(v: Any, what: str = "string") -> str:
    if v is None:
        raise TypeError(f"invalid value; expected {what}")
    if not isinstance(v, str):
        raise TypeError(f"wrong type for value; expected {what}; got {go_type(v)}")
    return v


_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")


def humanize(x: Any) -> str:
    v = _to_float(x)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return _g4(v) + prefix
    prefix = ""
    for p in _SMALL:
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return _g4(v) + prefix


def humanize1024(x: Any) -> str:
    v = _to_float(x)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return _g4(v) + prefix


def humanize_duration(x: Any) -> str:
    v = _to_float(x)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        d = int(v)
        seconds, minutes, hours, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in _SMALL:
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(x: Any) -> str:
    return _g4(_to_float(x) * 100) + "%"


def _to_time(x: Any) -> GoTime | None:
    v = _to_float(x)
    if math.isnan(v) or math.isinf(v):
        return None
    nanos = v * 1e9
    if not -(2**63) <= nanos < 2**63:
        raise ValueError(f"{go_float(v)} cannot be represented as a nanoseconds timestamp since it overflows int64")
    return GoTime((int(nanos) // 1_000_000) * 1_000_000)   # model.Time has millisecond resolution


def humanize_timestamp(x: Any) -> str:
    t = _to_time(x)
    return _g4(_to_float(x)) if t is None else str(t)


def to_time(x: Any) -> GoTime:
    t = _to_time(x)
    if t is None:
        raise ValueError("value is NaN or Inf")
    return t


def _title(s: Any) -> str:
    s = _str(s)
    out = []
    prev = " "
    for ch in s:
        sep = (not (prev.isalnum() or prev == "_")) if prev.isascii() else prev.isspace()
        out.append(ch.upper() if sep else ch)
        prev = ch
    return "".join(out)


_EXPAND_RE = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _go_expand(m: re.Match[str], template: str) -> str:
    """regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`; unknown groups expand to ""."""

    def repl(t: re.Match[str]) -> str:
        if t.group(0) == "$$":
            return "$"
        name = t.group(1) or t.group(2)
        try:
            g = m.group(int(name)) if name.isdigit() else m.group(name)
        except (IndexError, KeyError):
            return ""
        return g or ""

    return _EXPAND_RE.sub(repl, template)


def re_replace_all(pattern: Any, repl: Any, text: Any) -> str:
    rx = _compile(_str(pattern))
    template, s = _str(repl), _str(text)
    return rx.sub(lambda m: _go_expand(m, template), s)


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"regexp: Compile(`{pattern}`): error parsing regexp: {e.msg}: `{pattern}`") from None


def _match(pattern: Any, text: Any) -> bool:
    return _compile(_str(pattern)).search(_str(text)) is not None


def _kind(v: Any) -> str | None:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return None


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TypeError("missing argument for comparison")
    for b in others:
        if a is None or b is None:
            if a is None and b is None:
                return True
            continue
        ka, kb = _kind(a), _kind(b)
        if ka is None or kb is None:
            raise TypeError("invalid type for comparison")
        if ka != kb:
            raise TypeError("incompatible types for comparison")
        if a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka in (None, "bool") or kb in (None, "bool"):
        raise TypeError("invalid type for comparison")
    if ka != kb:
        raise TypeError("incompatible types for comparison")
    return a < b


def _len(v: Any) -> int:
    if isinstance(v, (str, Mapping, list, tuple)):
        return len(v.encode() if isinstance(v, str) else v)
    raise TypeError(f"len of type {go_type(v)}")


def _index(item: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(item, Mapping):
            if not isinstance(k, str):
                raise TypeError(f"value has type {go_type(k)}; should be string")
            item = item.get(k, "" if go_type(item) == "map[string]string" else None)
        elif isinstance(item, (list, tuple, str)):
            if isinstance(k, bool) or not isinstance(k, int):
                raise TypeError(f"cannot index slice/array with type {go_type(k)}")
            if not 0 <= k < len(item):
                raise IndexError(f"index out of range: {k}")
            item = item[k] if not isinstance(item, str) else item.encode()[k]
        else:
            raise TypeError(f"can't index item of type {go_type(item)}")
    return item


def _sprint(*args: Any) -> str:
    # fmt.Sprint: a space between operands when neither is a string
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_inner(a))
    return "".join(out)


def _first(v: Any) -> QuerySample:
    if not isinstance(v, (list, tuple)):
        raise TypeError(f"wrong type for value; expected template.queryResult; got {go_type(v)}")
    if not v:
        raise ValueError("first() called on vector with no elements")
    return v[0]


def _sample(s: Any) -> QuerySample:
    if not isinstance(s, QuerySample):
        raise TypeError(f"wrong type for value; expected *template.sample; got {go_type(s)}")
    return s


def _sort_by_label(label: Any, v: Any) -> list[QuerySample]:
    name = _str(label)
    return sorted(v, key=lambda s: _sample(s).Labels.get(name, ""))


def _strip_port(host_port: Any) -> str:
    s = _str(host_port)
    host, port, ok = _split_host_port(s)
    return host if ok else s


def _strip_domain(host_port: Any) -> str:
    s = _str(host_port)
    host, port, ok = _split_host_port(s)
    if not ok:
        host, port = s, ""
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return s
    except ValueError:
        pass
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def _split_host_port(s: str) -> tuple[str, str, bool]:
    """net.SplitHostPort (enough of it): "h:p", "[v6]:p"."""
    if s.startswith("["):
        end = s.find("]")
        if end < 0 or not s[end + 1 :].startswith(":") or ":" in s[end + 2 :]:
            return s, "", False
        return s[1:end], s[end + 2 :], True
    if s.count(":") != 1:
        return s, "", False
    host, port = s.split(":")
    return host, port, True


def _html_escape(*args: Any) -> str:
    s = _sprint(*args)
    return s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("\0", "\uFFFD")


def _urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus(_sprint(*args), safe="")


def _join(sep: Any, items: Any) -> str:
    if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) for x in items):
        raise TypeError(f"wrong type for value; expected []string; got {go_type(items)}")
    return _str(sep).join(items)


def _string_slice(*items: Any) -> list[str]:
    return [_str(x) for x in items]


def _slice(item: Any, *indexes: Any) -> Any:
    """Go's `slice x 1 2`: item[1:2] (strings by byte, like Go)."""
    if not isinstance(item, (str, list, tuple)):
        raise TypeError(f"can't slice item of type {go_type(item)}")
    if len(indexes) > 2 + (not isinstance(item, str)):
        raise TypeError("too many slice indexes")
    if any(isinstance(i, bool) or not isinstance(i, int) for i in indexes):
        raise TypeError("cannot index slice/array with non-integer type")
    seq: Any = item.encode() if isinstance(item, str) else item
    bounds = list(indexes) + [len(seq)] * (2 - len(indexes)) if indexes else [0, len(seq)]
    low, high = bounds[0], bounds[1]
    if not 0 <= low <= high <= len(seq):
        raise IndexError(f"index out of range: {low}:{high}")
    out = seq[low:high]
    return out.decode(errors="replace") if isinstance(item, str) else type(item)(out) if isinstance(item, tuple) else list(out)


def _js_escape(*args: Any) -> str:
    """Go's template.JSEscapeString of the printed arguments."""
    out = []
    for ch in _sprint(*args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) < 0x20:
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, f"\\u{ord(ch):04X}"))
        else:
            out.append(ch)
    return "".join(out)


def _parse_duration(d: Any) -> float:
    from watchdog.durations import parse_duration

    return parse_duration(_str(d))


_FUNCS: dict[str, Callable[..., Any]] = {
    # Go text/template builtins
    "and": lambda *a: None, "or": lambda *a: None,   # evaluated lazily by _Exec.and_or
    "not": lambda v: not truth(v),
    "len": _len,
    "index": _index,
    "print": _sprint,
    "printf": go_sprintf,
    "println": lambda *a: " ".join(_inner(x) for x in a) + "\n",
    "html": _html_escape,
    "js": _js_escape,
    "slice": _slice,
    "urlquery": _urlquery,
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _lt,
    "le": lambda a, b: _lt(a, b) or _eq(a, b),
    "gt": lambda a, b: not (_lt(a, b) or _eq(a, b)),
    "ge": lambda a, b: not _lt(a, b),
    # Prometheus's template functions
    "query": lambda expr: [],   # replaced per render by _make_query
    "first": _first,
    "label": lambda name, s: _sample(s).Labels.get(_str(name), ""),
    "value": lambda s: _sample(s).Value,
    "strvalue": lambda s: _sample(s).Labels.get("__value__", ""),
    "sortByLabel": _sort_by_label,
    "args": lambda *a: {f"arg{i}": v for i, v in enumerate(a)},
    "safeHtml": _str,
    "match": _match,
    "reReplaceAll": re_replace_all,
    "title": _title,
    "toUpper": lambda s: _str(s).upper(),
    "toLower": lambda s: _str(s).lower(),
    "stripPort": _strip_port,
    "stripDomain": _strip_domain,
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
    "humanizeTimestamp": humanize_timestamp,
    "toTime": to_time,
    "parseDuration": _parse_duration,
    # Alertmanager's notification template functions
    "join": _join,
    "stringSlice": _string_slice,
    "trimSpace": lambda s: _str(s).strip(" \t\n\r\v\f"),
    "date": go_date,
    "tz": time_in_zone,
    "since": since,   # replaced per render when a "now" is given (never reads the clock)
}
