"""Go value formatting for templates: `%v` of floats and maps, printf verbs, quoting, time values;
the values templates see (QuerySample, AlertTemplateData) and Go's truth.

Part of watchdog.promql.template (split for size; behaviour unchanged).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping


class TemplateError(Exception):
    """A template failed to parse or to execute; the message is Go-like."""


@dataclass(frozen=True, slots=True)
class QuerySample:
    """What `query` returns per element (Prometheus's template `sample`: .Labels, .Value)."""

    Labels: Mapping[str, str]
    Value: float


@dataclass(frozen=True, slots=True)
class AlertTemplateData:
    """The dot of an alert template (Prometheus's AlertTemplateData)."""

    Labels: Mapping[str, str]
    ExternalLabels: Mapping[str, str]
    ExternalURL: str
    Value: Any


_NOARG = object()


class KV(dict):
    """Alertmanager's template.KV (labels, annotations): a string map with the methods
    SortedPairs, Names, Values and Remove (the only methods a template can call on it)."""

    def SortedPairs(self) -> "Pairs":
        return Pairs(Pair(k, self[k]) for k in sorted(self))

    def Names(self) -> list[str]:
        return sorted(self)

    def Values(self) -> list[str]:
        return [self[k] for k in sorted(self)]

    def Remove(self, keys: Any) -> "KV":
        if not isinstance(keys, (list, tuple)):
            raise TypeError(f"wrong type for value; expected []string; got {go_type(keys)}")
        drop = set(keys)
        return KV({k: v for k, v in self.items() if k not in drop})


@dataclass(frozen=True, slots=True)
class Pair:
    """One element of KV.SortedPairs: .Name, .Value."""

    Name: str
    Value: str


class Pairs(list):
    """KV.SortedPairs's result; Names and Values as on Alertmanager's template.Pairs."""

    def Names(self) -> list[str]:
        return [p.Name for p in self]

    def Values(self) -> list[str]:
        return [p.Value for p in self]


class AlertList(list):
    """Alertmanager's template.Alerts: .Firing and .Resolved are methods on the list."""

    def Firing(self) -> "AlertList":
        return AlertList(a for a in self if isinstance(a, Mapping) and a.get("Status") == "firing")

    def Resolved(self) -> "AlertList":
        return AlertList(a for a in self if isinstance(a, Mapping) and a.get("Status") == "resolved")


# The methods templates may call, by type: nothing else on a Python object is reachable.
METHODS: tuple[tuple[type, frozenset[str]], ...] = (
    (KV, frozenset({"SortedPairs", "Names", "Values", "Remove"})),
    (Pairs, frozenset({"Names", "Values"})),
    (AlertList, frozenset({"Firing", "Resolved"})),
)


def method_of(value: Any, name: str) -> Any:
    """The bound, allow-listed method `name` of `value`, or None."""
    for cls, names in METHODS:
        if isinstance(value, cls) and name in names:
            return getattr(value, name)
    return None


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil, empty string/map/slice are false."""
    if value is None or value is _NOARG:
        return False
    if isinstance(value, (bool, int, float, str, Mapping, list, tuple)):
        return bool(value)
    return True


# --------------------------------------------------------------------------- Go value formatting


def go_type(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, QuerySample):
        return "*template.sample"
    if isinstance(v, GoTime):
        return "*time.Time"
    if isinstance(v, GoDuration):
        return "time.Duration"
    if isinstance(v, KV):
        return "template.KV"
    if isinstance(v, Pairs):
        return "template.Pairs"
    if isinstance(v, Pair):
        return "template.Pair"
    if isinstance(v, AlertList):
        return "template.Alerts"
    if isinstance(v, AlertTemplateData):
        return "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }"
    if isinstance(v, Mapping):
        return "map[string]string" if all(isinstance(x, str) for x in v.values()) else "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "template.queryResult" if v and all(isinstance(x, QuerySample) for x in v) else "[]interface {}"
    return type(v).__name__


def go_float(f: float, fmt: str = "g") -> str:
    """Go's strconv.FormatFloat(f, 'g', -1, 64), which `%v` and `{{ $value }}` use."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    r = repr(abs(f))
    mantissa, _, exp_text = r.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # decimal point position relative to the start of `digits`
    dp = len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    dp += int(exp_text or 0)
    digits = digits.rstrip("0") or "0"
    sign = "-" if f < 0 else ""
    exp = dp - 1
    if exp < -4 or exp >= 21 if fmt == "v21" else exp < -4 or exp >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    nd = len(digits)
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= nd:
        return f"{sign}{digits}{'0' * (dp - nd)}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _py_float_fmt(spec: str, f: float) -> str:
    """`%`-format a float with Go's spelling of NaN and infinities."""
    if math.isnan(f) or math.isinf(f):
        word = "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
        width = re.match(r"%[-+# 0]*(\d*)", spec)
        w = int(width.group(1)) if width and width.group(1) else 0
        return word.ljust(w) if "-" in spec else word.rjust(w)
    return spec % f


def _g4(v: float) -> str:
    """Go's fmt.Sprintf("%.4g", v)."""
    return _py_float_fmt("%.4g", v)


@dataclass(frozen=True, slots=True)
class GoTime:
    """A time.Time as templates see it (prints as Go's Time.String(); UTC unless `tz` moved it)."""

    unix_nanos: int
    zone: str = "UTC"
    offset: int = 0          # seconds east of UTC in `zone` at this instant

    def local(self) -> "Any":
        """A naive datetime of the wall clock in this time's zone."""
        import datetime as _dt

        secs, nanos = divmod(self.unix_nanos, 1_000_000_000)
        return _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=secs + self.offset, microseconds=nanos // 1000)

    def __str__(self) -> str:
        nanos = self.unix_nanos % 1_000_000_000
        frac = f".{nanos:09d}".rstrip("0") if nanos else ""
        sign = "-" if self.offset < 0 else "+"
        hours, minutes = divmod(abs(self.offset) // 60, 60)
        return self.local().strftime("%Y-%m-%d %H:%M:%S") + frac + f" {sign}{hours:02d}{minutes:02d} {self.zone}"


@dataclass(frozen=True, slots=True)
class GoDuration:
    """A time.Duration (what `since` returns); prints like Go's Duration.String(): 1h2m3.5s."""

    seconds: float

    def __str__(self) -> str:
        nanos = round(self.seconds * 1e9)
        if nanos == 0:
            return "0s"
        sign = "-" if nanos < 0 else ""
        nanos = abs(nanos)
        if nanos < 1_000_000_000:
            for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
                if nanos >= size:
                    return sign + _trim_fraction(nanos / size) + unit
        hours, rest = divmod(nanos, 3_600_000_000_000)
        minutes, rest = divmod(rest, 60_000_000_000)
        secs = _trim_fraction(rest / 1e9) + "s"
        if hours:
            return f"{sign}{hours}h{minutes}m{secs}"
        if minutes:
            return f"{sign}{minutes}m{secs}"
        return sign + secs


def _trim_fraction(v: float) -> str:
    return f"{v:.9f}".rstrip("0").rstrip(".")


def go_sprint_value(v: Any) -> str:
    """How text/template prints a value (fmt.Fprint)."""
    if v is None or v is _NOARG:
        return "<no value>"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{_inner(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_inner(x) for x in v) + "]"
    if isinstance(v, Pair):
        return "{" + v.Name + " " + v.Value + "}"
    if isinstance(v, QuerySample):   # Go prints the struct a *sample points to
        return "{" + _inner(v.Labels) + " " + _inner(v.Value) + "}"
    return str(v)


def _is_label_map(v: Mapping[str, Any]) -> bool:
    return all(isinstance(x, str) for x in v.values())


def _inner(v: Any) -> str:
    return "<nil>" if v is None else go_sprint_value(v)


def go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_VERB_RE = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])")


def go_sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs templates use: %v %s %d %f %e %g %q %x %X %t %c %o %b %%."""
    if not isinstance(fmt, str):
        raise TypeError(f"wrong type for value; expected string; got {go_type(fmt)}")
    out: list[str] = []
    i = 0
    n = 0
    for m in _VERB_RE.finditer(fmt):
        out.append(fmt[i : m.start()])
        i = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_one(flags, width, prec, verb, args[n]))
        n += 1
    out.append(fmt[i:])
    if n < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{go_type(a)}={_inner(a)}" for a in args[n:]) + ")")
    return "".join(out)


def _pad(s: str, flags: str, width: str | None) -> str:
    w = int(width) if width else 0
    return s.ljust(w) if "-" in flags else s.rjust(w)


def _format_one(flags: str, width: str | None, prec: str | None, verb: str, a: Any) -> str:
    if verb == "v":   # Go: %+v and %#v change how structs print, never a number's sign
        flags = flags.replace("+", "").replace("#", "")
    spec = "%" + flags + (width or "") + ("." + prec if prec is not None else "")
    bad = f"%!{verb}(<nil>)" if a is None else f"%!{verb}({go_type(a)}={_inner(a)})"
    if isinstance(a, bool):
        return _pad("true" if a else "false", flags, width) if verb in "vt" else bad
    if isinstance(a, int):
        if verb in "vd":
            return (spec + "d") % a
        if verb in "xX":
            return (spec + verb) % a
        if verb in "ob":   # Go's alternate forms are 017 and 0b101
            digits = format(abs(a), verb)
            prefix = ("0" if verb == "o" else "0b") if "#" in flags else ""
            return _pad(("-" if a < 0 else "") + prefix + digits, flags, width)
        if verb == "c":
            return _pad(chr(a), flags, width)
        if verb == "q":
            return _pad("'" + go_quote(chr(a))[1:-1].replace("'", "\\'") + "'", flags, width)
        return bad
    if isinstance(a, float):
        if verb == "v" or (verb in "gG" and prec is None):
            s = go_float(a)
            if "+" in flags and not s.startswith(("-", "+")):
                s = "+" + s
            return _pad(s.upper() if verb == "G" else s, flags, width)
        if verb in "fFeEgG":
            return _py_float_fmt(spec + verb.replace("F", "f"), a)
        return bad
    if isinstance(a, str):
        if verb in "vs":
            return (spec + "s") % a
        if verb == "q":
            return _pad(go_quote(a), flags, width)
        if verb in "xX":
            h = a.encode().hex()
            return _pad(h.upper() if verb == "X" else h, flags, width)
        return bad
    if verb in "vs" and a is not None:
        return _pad(go_sprint_value(a), flags, width)
    return bad
