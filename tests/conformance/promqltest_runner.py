"""Runs Prometheus's promqltest scripts (`*.test`) against our engine.

Format: ../shared/conformance/promqltest/FORMAT.md. Each `eval` is a case
identified as `file:line`; a case either passes, fails (with a reason) or is
skipped with a reason naming the out-of-scope feature.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import promql_parser

from watchdog.model import STALE_NAN, Labels
from watchdog.promql import Engine, PromQLError
from watchdog.tsdb import SeriesStore

SKIP_FILES = {
    "native_histograms.test": "native histograms",
    "info.test": "info() (out of scope)",
    "type_and_unit.test": "type and unit labels (out of scope)",
    "extended_vectors.test": "anchored/smoothed vectors (experimental)",
    "duration_expression.test": "duration arithmetic (experimental)",
    "limit.test": "limitk/limit_ratio (experimental)",
    "fill-modifier.test": "fill modifiers (experimental)",
}

_EVAL_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_EVAL_RANGE = re.compile(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
_EXPECT = re.compile(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
_EXPECT_RANGE = re.compile(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
_EXPECT_STRING = re.compile(r"^expect string\s+(.+)$")
_LOAD = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# features the pinned parser lacks that are experimental in Prometheus (duration arithmetic, step())
_DURATION_ARITHMETIC = re.compile(r"\[[^\]]*[+*/()][^\]]*\]|offset\s*\(|offset\s+-?\s*step\(|\bstep\(\)|\[\s*step")


def duration(s: str) -> float:
    s = s.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", s):
        return float(s)
    neg = s.startswith("-")
    body = s.lstrip("-")
    units = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+)(ms|y|w|d|h|m|s)", body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"bad duration {s!r}")
    d = sum(int(n) * units[u] for n, u in parts)
    return -d if neg else d


@dataclass
class Case:
    file: str
    line: int
    expr: str
    kind: str  # instant | range
    at: float = 0.0
    start: float = 0.0
    end: float = 0.0
    step: float = 0.0
    fail: bool = False
    ordered: bool = False
    expect_string: str | None = None
    expect_range: tuple[float, float, float] | None = None
    rows: list[str] = field(default_factory=list)
    skip: str | None = None

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


# -- series descriptions -------------------------------------------------------


def split_series(line: str) -> tuple[str, str]:
    """Split `metric{a="b c"} 1 2 3` into its metric part and its values."""
    line = line.strip()
    if line.startswith("{") or ("{" in line and re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*\{", line)):
        depth = 0
        in_str = False
        i = 0
        while i < len(line):
            c = line[i]
            if in_str:
                if c == "\\":
                    i += 1
                elif c == '"':
                    in_str = False
            elif c == '"':
                in_str = True
            elif c == "}":
                return line[: i + 1], line[i + 1 :].strip()
            i += 1
        raise ValueError(f"unterminated labels in {line!r}")
    parts = line.split(None, 1)
    return parts[0], (parts[1] if len(parts) > 1 else "")


def parse_labels(metric: str) -> Labels:
    metric = metric.strip()
    pairs: dict[str, str] = {}
    m = _NAME.match(metric)
    rest = metric
    if m and not metric.startswith("{"):
        pairs["__name__"] = m.group(0)
        rest = metric[m.end() :]
    rest = rest.strip()
    if not rest:
        return Labels(pairs.items())
    if not (rest.startswith("{") and rest.endswith("}")):
        raise ValueError(f"bad series {metric!r}")
    body = rest[1:-1]
    pos = 0
    tok = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([a-zA-Z_][a-zA-Z0-9_]*))\s*')
    while pos < len(body):
        mt = tok.match(body, pos)
        if not mt or mt.end() == pos:
            raise ValueError(f"bad labels {metric!r}")
        name = ast.literal_eval(mt.group(1)) if mt.group(1) else mt.group(2)
        pos = mt.end()
        if pos < len(body) and body[pos] == "=":
            mv = re.compile(r'=\s*("(?:[^"\\]|\\.)*")\s*').match(body, pos)
            if not mv:
                raise ValueError(f"bad labels {metric!r}")
            pairs[name] = ast.literal_eval(mv.group(1))
            pos = mv.end()
        else:
            pairs["__name__"] = name
        if pos < len(body) and body[pos] == ",":
            pos += 1
    return Labels(pairs.items())


def parse_number(s: str) -> float:
    s = s.strip()
    low = s.lower()
    if low in ("inf", "+inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    if low in ("nan", "+nan", "-nan"):
        return math.nan
    if low == "stale":
        return STALE_NAN
    if re.fullmatch(r"[+-]?0x[0-9a-f]+", low):
        return float(int(low, 16))
    return float(s)


_NUM = r"[+-]?(?:inf|nan|0x[0-9a-f]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)"
_ITEM_INC = re.compile(rf"^({_NUM}|stale)([+-](?:inf|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?))x(\d+)$", re.I)
_ITEM_REP = re.compile(rf"^({_NUM}|stale)x(\d+)$", re.I)


def parse_values(text: str) -> list[float | None]:
    """Expanding notation; None is an omitted sample (`_`)."""
    out: list[float | None] = []
    if "{{" in text:
        raise NativeHistogram()
    for item in text.split():
        if item == "_":
            out.append(None)
            continue
        m = re.fullmatch(r"_x(\d+)", item)
        if m:
            out.extend([None] * int(m.group(1)))
            continue
        m = _ITEM_INC.match(item)
        if m:
            v = parse_number(m.group(1))
            inc = parse_number(m.group(2))
            for _ in range(int(m.group(3)) + 1):
                out.append(v)
                v += inc
            continue
        m = _ITEM_REP.match(item)
        if m:
            out.extend([parse_number(m.group(1))] * (int(m.group(2)) + 1))
            continue
        out.append(parse_number(item))
    return out


class NativeHistogram(Exception):
    pass


# -- the script ----------------------------------------------------------------


@dataclass
class Command:
    kind: str  # load | clear | eval
    case: Case | None = None
    step: float = 0.0
    series: list[tuple[Labels, list[float | None]]] = field(default_factory=list)
    histogram_metrics: set[str] = field(default_factory=set)


def parse_script(path: Path) -> list[Command]:
    lines = path.read_text().splitlines()
    cmds: list[Command] = []
    i = 0
    fname = path.name

    def block(j: int) -> tuple[list[tuple[int, str]], int]:
        out = []
        while j < len(lines) and lines[j].strip() != "":
            s = lines[j].strip()
            if not s.startswith("#"):
                out.append((j + 1, s))
            j += 1
        return out, j

    while i < len(lines):
        raw = lines[i].strip()
        if raw == "" or raw.startswith("#"):
            i += 1
            continue
        if raw == "clear":
            cmds.append(Command("clear"))
            i += 1
            continue
        m = _LOAD.match(raw)
        if m:
            body, i = block(i + 1)
            cmd = Command("load", step=duration(m.group(2)))
            for _, s in body:
                metric, values = split_series(s)
                if values.startswith("@st") or metric.endswith("@st"):
                    # start-timestamp series (Prometheus main, experimental): we store no start timestamps
                    continue
                labels = parse_labels(metric)
                try:
                    vals = parse_values(values)
                except NativeHistogram:
                    cmd.histogram_metrics.add(labels.metric_name)
                    continue
                if m.group(1):  # load_with_nhcb: classic histograms become native ones too
                    name = labels.metric_name
                    for suffix in ("_bucket", "_count", "_sum"):
                        if name.endswith(suffix):
                            cmd.histogram_metrics.add(name[: -len(suffix)])
                cmd.series.append((labels, vals))
            cmds.append(cmd)
            continue
        lineno = i + 1
        mi = _EVAL_INSTANT.match(raw)
        mr = _EVAL_RANGE.match(raw)
        body, i = block(i + 1)
        if mr:
            case = Case(fname, lineno, mr.group(5), "range", start=duration(mr.group(2)), end=duration(mr.group(3)),
                        step=duration(mr.group(4)), fail=mr.group(1) == "fail")
        elif mi:
            case = Case(fname, lineno, mi.group(3), "instant", at=duration(mi.group(2) or "0"),
                        fail=mi.group(1) == "fail", ordered=mi.group(1) == "ordered")
        else:
            raise ValueError(f"{fname}:{lineno}: unknown command {raw!r}")
        for _, s in body:
            me = _EXPECT.match(s)
            if me:
                if me.group(1) == "fail":
                    case.fail = True
                elif me.group(1) == "ordered":
                    case.ordered = True
                continue  # warn/info annotations are out of scope
            mrng = _EXPECT_RANGE.match(s)
            if mrng:
                case.expect_range = (duration(mrng.group(1)), duration(mrng.group(2)), duration(mrng.group(3)))
                continue
            ms = _EXPECT_STRING.match(s)
            if ms:
                lit = ms.group(1).strip()
                case.expect_string = lit[1:-1] if lit.startswith("`") else ast.literal_eval(lit)
                continue
            case.rows.append(s)
        cmds.append(Command("eval", case=case))
    return cmds


# -- comparison ----------------------------------------------------------------

MIN_NORMAL = 2.2250738585072014e-308


def almost_equal(a: float, b: float, eps: float = 1e-6) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < MIN_NORMAL:
        return diff < eps * MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < eps


def _expected_series(rows: list[str]) -> list[tuple[Labels, list[float | None]]]:
    out = []
    for r in rows:
        metric, values = split_series(r)
        out.append((parse_labels(metric), parse_values(values)))
    return out


def check_case(engine: Engine, case: Case) -> str | None:
    """None when the case passes, else the reason it fails."""
    try:
        if case.kind == "range":
            got_range = engine.query_range(case.expr, case.start, case.end, case.step)
        else:
            result = engine.query(case.expr, case.at)
    except PromQLError as exc:
        return None if case.fail else f"error: {exc}"
    if case.fail:
        return "expected failure, query succeeded"
    if case.kind == "range":
        return _compare_matrix(got_range, _expected_series(case.rows), case.start, case.step)
    if case.expect_string is not None:
        if result.kind != "string" or result.string != case.expect_string:
            return f"expected string {case.expect_string!r}, got {result}"
        return None
    if case.expect_range is not None:
        if result.kind != "matrix":
            return f"expected range vector, got {result.kind}"
        return _compare_matrix(result.matrix, _expected_series(case.rows), case.expect_range[0], case.expect_range[2])
    if result.kind == "scalar":
        if len(case.rows) != 1:
            return f"got scalar {result.scalar}, expected {case.rows}"
        try:
            want = parse_number(case.rows[0])
        except ValueError:
            return f"got scalar {result.scalar}, expected {case.rows}"
        return None if almost_equal(want, result.scalar) else f"expected {want}, got {result.scalar}"
    if result.kind != "vector":
        return f"unexpected result kind {result.kind}"
    expected = _expected_series(case.rows)
    got = [(s.labels, s.value) for s in result.vector]
    if len(got) != len(expected):
        return f"expected {len(expected)} samples, got {len(got)}: {got[:5]}"
    index = {labels: (i, v) for i, (labels, v) in enumerate(got)}
    for pos, (labels, vals) in enumerate(expected):
        if labels not in index:
            return f"missing {labels!r} in {got[:5]}"
        i, v = index[labels]
        if len(vals) != 1 or vals[0] is None:
            return f"bad expectation {vals}"
        if not almost_equal(vals[0], v):
            return f"{labels!r}: expected {vals[0]}, got {v}"
        if case.ordered and i != pos:
            return f"{labels!r}: expected at position {pos}, got {i}"
    return None


def _compare_matrix(got, expected, start: float, step: float) -> str | None:
    got_map = {labels: pts for labels, pts in got}
    if len(got_map) != len(expected):
        return f"expected {len(expected)} series, got {len(got_map)}: {[g[0] for g in got][:5]}"
    for labels, vals in expected:
        pts = got_map.get(labels)
        if pts is None:
            return f"missing series {labels!r}; got {list(got_map)[:5]}"
        want = [(round((start + i * step) * 1000), v) for i, v in enumerate(vals) if v is not None]
        have = [(round(t * 1000), v) for t, v in pts]
        if len(want) != len(have):
            return f"{labels!r}: expected {len(want)} points, got {len(have)}: {have[:8]}"
        for (wt, wv), (ht, hv) in zip(want, have):
            if wt != ht or not almost_equal(wv, hv):
                return f"{labels!r}: expected ({wt / 1000}, {wv}), got ({ht / 1000}, {hv})"
    return None


@dataclass
class FileResult:
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def _mentions(expr: str, names: set[str]) -> bool:
    if any(re.search(rf"(?<![a-zA-Z0-9_:]){re.escape(n)}(?![a-zA-Z0-9_:])", expr) for n in names):
        return True
    # a __name__ regex (`{__name__=~"data(_histogram)?"}`) that selects one of them
    for pattern in re.findall(r'__name__\s*=~\s*"((?:[^"\\]|\\.)*)"', expr):
        try:
            rx = re.compile(f"(?:{pattern})\\Z")
        except re.error:
            continue
        if any(rx.match(n) for n in names):
            return True
    return False


def run_file(path: Path) -> FileResult:
    res = FileResult()
    cmds = parse_script(path)
    file_skip = SKIP_FILES.get(path.name)
    store = SeriesStore(retention=1e12, max_samples_per_series=1 << 22)
    engine = Engine(store, max_series_per_query=10_000_000)
    histogram_metrics: set[str] = set()
    for cmd in cmds:
        if cmd.kind == "clear":
            store.clear()
            histogram_metrics.clear()
            continue
        if cmd.kind == "load":
            histogram_metrics |= cmd.histogram_metrics
            # a series defined twice in one load: the later definition wins at equal timestamps
            merged: dict[Labels, dict[int, float]] = {}
            for labels, vals in cmd.series:
                points = merged.setdefault(labels, {})
                for i, v in enumerate(vals):
                    if v is not None:
                        points[round(i * cmd.step * 1000)] = v
            for labels, points in merged.items():
                for ms in sorted(points):
                    store.append(labels, points[ms], ms / 1000)
            continue
        case = cmd.case
        assert case is not None
        reason = file_skip
        if reason is None:
            reason = _skip_reason(case, histogram_metrics)
        if reason is not None:
            res.skipped[case.id] = reason
            continue
        try:
            outcome = check_case(engine, case)
        except NativeHistogram:
            res.skipped[case.id] = "native histograms"
            continue
        except Exception as exc:  # a crash is a failure of that case, never of the run
            outcome = f"crash: {type(exc).__name__}: {exc}"
        if outcome is None:
            res.passed.append(case.id)
        else:
            res.failed[case.id] = outcome
    return res


def _skip_reason(case: Case, histogram_metrics: set[str]) -> str | None:
    if any("{{" in r for r in case.rows):
        return "native histograms"
    if histogram_metrics and _mentions(case.expr, histogram_metrics):
        return "native histograms"
    if re.search(r"\b(histogram_(count|sum|avg|stddev|stdvar))\s*\(", case.expr):
        return "native histograms"
    if re.search(r"\b(limitk|limit_ratio)\s*\(", case.expr):
        return "limitk/limit_ratio (experimental)"
    if re.search(r"\binfo\s*\(", case.expr):
        return "info() (out of scope)"
    if re.search(r"\b(fill|fill_left|fill_right)\s*\(", case.expr):
        return "fill modifiers (experimental)"
    if re.search(r"\b(anchored|smoothed)\b", case.expr):
        return "anchored/smoothed vectors (experimental)"
    if _DURATION_ARITHMETIC.search(case.expr):
        return "duration arithmetic (experimental)"
    return None
