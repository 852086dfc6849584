"""promtool's rule unit-test file format and the text of its results.

The file shape follows `cmd/promtool/unittest.go` (strict: unknown keys are
errors). The output helpers write what promtool writes: labels as Go's
`labels.Labels.String()`, values as Go's `strconv.FormatFloat(v, 'E', -1, 64)`,
eval times as `model.Duration`, rule-error times as Go's `time.Duration`.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Mapping

from pydantic import BaseModel, BeforeValidator, ConfigDict

from watchdog.durations import Duration, format_duration


def _to_text(v: Any) -> Any:
    # Go's YAML decoder reads any scalar into a string field (`values: 1`, `severity: 1`)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return v


Text = Annotated[str, BeforeValidator(_to_text)]


def _start_timestamp(v: Any) -> Any:
    """RFC 3339 text or unix seconds -> unix seconds."""
    if isinstance(v, bool):
        raise ValueError("start_timestamp must be RFC 3339 or unix seconds")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, datetime):  # PyYAML turns unquoted timestamps into datetimes
        return v.timestamp()
    if isinstance(v, str):
        text = v.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError(f"start_timestamp {text!r} is neither RFC 3339 nor unix seconds") from None
    raise ValueError("start_timestamp must be RFC 3339 or unix seconds")


StartTimestamp = Annotated[float, BeforeValidator(_start_timestamp)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InputSeries(_Strict):
    series: Text = ""
    values: Text = ""


class ExpAlert(_Strict):
    exp_labels: dict[str, Text] | None = None
    exp_annotations: dict[str, Text] | None = None


class AlertTestCase(_Strict):
    eval_time: Duration = 0.0
    alertname: Text = ""
    exp_alerts: list[ExpAlert] | None = None


class ExpSample(_Strict):
    labels: Text = ""
    value: float = 0.0
    histogram: Text = ""   # native histograms: accepted in the file, reported unsupported


class PromqlTestCase(_Strict):
    expr: Text = ""
    eval_time: Duration = 0.0
    exp_samples: list[ExpSample] | None = None


class TestGroup(_Strict):
    __test__ = False   # not a pytest class
    interval: Duration = 0.0
    input_series: list[InputSeries] | None = None
    alert_rule_test: list[AlertTestCase] | None = None
    promql_expr_test: list[PromqlTestCase] | None = None
    external_labels: dict[str, Text] | None = None
    external_url: Text = ""
    name: Text = ""
    start_timestamp: StartTimestamp = 0.0


class UnitTestFile(_Strict):
    rule_files: list[Text] | None = None
    evaluation_interval: Duration = 0.0
    group_eval_order: list[Text] | None = None
    tests: list[TestGroup | None] | None = None
    fuzzy_compare: bool = False


# -- Go's formatting ---------------------------------------------------------


def go_quote(s: str) -> str:
    """strconv.Quote for the printable text labels hold."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def labels_string(labels: Mapping[str, str] | Any) -> str:
    """Go's labels.Labels.String(): sorted by name, `{a="1", b="2"}`."""
    pairs = sorted(dict(labels).items())
    return "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in pairs) + "}"


def float_e(v: float) -> str:
    """strconv.FormatFloat(v, 'E', -1, 64): shortest digits, exponent form (1E+00, 6.5E-01)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0E+00" if math.copysign(1.0, v) < 0 else "0E+00"
    sign, digits, exp = Decimal(repr(v)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exponent = int(exp) + len(digits) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}E{exponent:+03d}"


def model_duration(seconds: float) -> str:
    """prometheus/common model.Duration.String(): 0s, 5m, 1d, 2m59s999ms."""
    return format_duration(seconds)


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for non-negative whole milliseconds: 0s, 500ms, 1m0s, 1h0m0s."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}" + (f".{rest % 1000:03d}".rstrip("0") if rest % 1000 else "") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    if minutes:
        return f"{minutes}m{secs}"
    return secs


def indent_lines(text: str, indent: str) -> str:
    """promtool's indentLines: every line but the first gets `indent`."""
    lines = text.split("\n")
    return "\n".join([lines[0]] + [indent + line for line in lines[1:]])


def alerts_string(alerts: list[tuple[dict[str, str], dict[str, str]]]) -> str:
    """promtool's labelsAndAnnotations.String()."""
    if not alerts:
        return "[]"
    parts = []
    for i, (labels, annots) in enumerate(alerts):
        one = "Labels:" + labels_string(labels) + "\nAnnotations:" + labels_string(annots)
        parts.append(f"{i}:" + indent_lines("\n" + one, "  "))
    return "[\n" + ",\n".join(parts) + "\n]"


def samples_string(samples: list[tuple[dict[str, str], float]]) -> str:
    """promtool's parsedSamplesString()."""
    if not samples:
        return "nil"
    return ", ".join(labels_string(labels) + " " + float_e(value) for labels, value in samples)


def labels_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Sort key equal to Go's labels.Compare order (pairwise name, then value, then length)."""
    return tuple(sorted(dict(labels).items()))


__all__ = [
    "AlertTestCase", "ExpAlert", "ExpSample", "InputSeries", "PromqlTestCase", "TestGroup", "UnitTestFile",
    "alerts_string", "float_e", "go_duration", "go_quote", "indent_lines", "labels_key", "labels_string",
    "model_duration", "samples_string",
]
