"""`/api/v1/query` and `/api/v1/query_range` answer as a real Prometheus does, on the same samples.

Prometheus (Debian 2.42) scrapes a loopback target; we copy every sample it
stored (a `{job="synthetic"}[1h]` matrix query) into our series store, serve
our API on loopback, and send the same requests to both. Answers are compared
as JSON (vector results as sets: their order is unspecified), except where the
two PromQL implementations word errors differently: there status, errorType
and the envelope are compared. Prometheus 3 semantics are ours (left-open
range windows), so query times avoid sample timestamps exactly at a window's
start. Skips when the binary is missing, unless WATCHDOG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
import math
import shutil
import urllib.parse

import aiohttp
import pytest
from aiohttp import web

from watchdog.api.context import RuleGroupView, TargetView
from watchdog.api.server import build_api
from watchdog.model import Labels
from watchdog.promql import Engine
from watchdog.rules.prometheus_process import PrometheusProcess
from watchdog.testing.env import require_service
from watchdog.testing.fakeclock import FakeClock
from watchdog.tsdb import SeriesStore

pytestmark = pytest.mark.services

EXPOSITION = """# TYPE http_requests_total counter
http_requests_total{code="200",path="/a"} {a}
http_requests_total{code="500",path="/a"} {b}
http_requests_total{code="200",path="/b"} {c}
# TYPE temperature gauge
temperature{room="kitchen"} 21.5
temperature{room="cellar"} -3.25
temperature{room="nowhere"} NaN
temperature{room="sun"} +Inf
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} {a}
latency_seconds_bucket{le="0.5"} {b2}
latency_seconds_bucket{le="+Inf"} {c2}
latency_seconds_sum {s}
latency_seconds_count {c2}
"""

INSTANT = [
    "http_requests_total", "temperature", "rate(http_requests_total[5s])", "sum by (code) (http_requests_total)",
    "sum(rate(http_requests_total[5s]))", "temperature > 0", "temperature > bool 0", "scalar(sum(temperature{room='kitchen'}))",
    "1 + 2", '"a string"', "vector(1)", "time()", "histogram_quantile(0.9, rate(latency_seconds_bucket[5s]))",
    "http_requests_total[3s]", "topk(1, http_requests_total)", "count_values('v', temperature{room='kitchen'})",
    "absent(nope)", "label_replace(temperature, 'r', '$1', 'room', '(.).*')", "max_over_time(temperature[10s:2s])",
    "up", "timestamp(temperature{room='kitchen'})", "-temperature", "temperature{room=~'k.*|s.*'} * 2",
    "1e300 * 1e300", "0.1 + 0.2", "1/3", "-0.0", "nope",
]
RANGE = ["http_requests_total", "sum(rate(http_requests_total[5s]))", "temperature", "1 + 1", "time()"]
ERRORS = ["rate(", "nosuch(up)", "rate(up)", "sum(temperature[5s])", "http_requests_total + on(path) http_requests_total"]


class _Context:
    """The ApiContext the query endpoints need: our engine over the copied samples."""

    def __init__(self, engine: Engine, clock: FakeClock) -> None:
        self.engine = engine
        self.clock = clock
        self.ready = True
        self.store = None
        self.token = None
        self.read_token = None

    def alerts(self):
        return []

    def targets(self) -> list[TargetView]:
        return []

    def rule_health(self) -> list[RuleGroupView]:
        return []

    async def reload(self):
        return True, []


def _body(n: int) -> str:
    a, b, c = 100 + 7 * n, 3 + n, 50 + 2 * n
    return (EXPOSITION.replace("{a}", str(a)).replace("{b}", str(b)).replace("{c}", str(c))
            .replace("{b2}", str(a + b)).replace("{c2}", str(a + b + c)).replace("{s}", str(0.25 * n)))


def _normalise(doc: dict) -> dict:
    """Vector/matrix results as sets, and sample values rounded to 12 significant digits: Prometheus 3
    (which we follow) multiplies rate's extrapolation factor in another order than 2.42 (last-digit
    differences such as 4.000000000000001 vs 4)."""
    data = doc.get("data")
    if isinstance(data, dict) and isinstance(data.get("result"), list) and data.get("resultType") in ("vector", "matrix"):
        data["result"] = sorted(data["result"], key=lambda r: json.dumps(r["metric"], sort_keys=True))
        for r in data["result"]:
            for point in ([r["value"]] if "value" in r else r.get("values", [])):
                point[1] = _round(point[1])
    elif isinstance(data, dict) and data.get("resultType") == "scalar":
        data["result"][1] = _round(data["result"][1])
    return doc


def _round(text: str) -> str:
    v = float(text)
    return text if not math.isfinite(v) or v == 0 else f"{v:.12g}"


async def test_query_api_answers_as_prometheus(tmp_path):
    require_service("prometheus", shutil.which("prometheus") is not None, "the `prometheus` binary is not installed (apt-get install prometheus)")
    scrapes = {"n": 0}

    async def metrics(_: web.Request) -> web.Response:
        scrapes["n"] += 1
        return web.Response(text=_body(scrapes["n"]), content_type="text/plain")

    target_app = web.Application()
    target_app.router.add_get("/metrics", metrics)
    target_runner = web.AppRunner(target_app)
    await target_runner.setup()
    site = web.TCPSite(target_runner, "127.0.0.1", 0)
    await site.start()
    target = f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    prom = PrometheusProcess(tmp_path, [target])
    prom.start()
    api_runner = None
    try:
        await prom.wait_for("count_over_time(temperature[1h]) >= 9", timeout=90)
        async with aiohttp.ClientSession() as http:
            async def get(base: str, path: str, **params: str) -> tuple[int, dict]:
                async with http.get(f"{base}{path}?{urllib.parse.urlencode(params)}") as resp:
                    return resp.status, await resp.json()

            # copy every stored sample into our store, at its exact timestamp
            status, raw = await get(prom.url, "/api/v1/query", query='{job="synthetic"}[1h]')
            assert status == 200
            store = SeriesStore(retention=math.inf)
            last = 0.0
            for series in raw["data"]["result"]:
                labels = Labels.of(series["metric"])
                for t, v in series["values"]:
                    store.append(labels, float(v), float(t))
                    last = max(last, float(t))
            clock = FakeClock(last + 60)
            engine = Engine(store)
            engine.subquery_step = 60.0
            api_runner = web.AppRunner(build_api(_Context(engine, clock)))
            await api_runner.setup()
            api_site = web.TCPSite(api_runner, "127.0.0.1", 0)
            await api_site.start()
            ours = f"http://127.0.0.1:{api_site._server.sockets[0].getsockname()[1]}"

            t = f"{last - 0.5:.3f}"   # between scrapes: no sample sits exactly on a window edge
            mismatches = []
            answered = []
            for expr in INSTANT:
                a = await get(prom.url, "/api/v1/query", query=expr, time=t)
                b = await get(ours, "/api/v1/query", query=expr, time=t)
                if a[0] == 200 and a[1]["data"]["result"]:
                    answered.append(expr)
                if (a[0], _normalise(a[1])) != (b[0], _normalise(b[1])):
                    mismatches.append((expr, a, b))
            for expr in RANGE:
                params = {"query": expr, "start": f"{last - 8.5:.3f}", "end": t, "step": "2"}
                a = await get(prom.url, "/api/v1/query_range", **params)
                b = await get(ours, "/api/v1/query_range", **params)
                if (a[0], _normalise(a[1])) != (b[0], _normalise(b[1])):
                    mismatches.append((expr, a, b))
            for expr in ERRORS:
                a = await get(prom.url, "/api/v1/query", query=expr, time=t)
                b = await get(ours, "/api/v1/query", query=expr, time=t)
                shape = lambda r: (r[0], r[1]["status"], r[1].get("errorType"), sorted(r[1]))  # noqa: E731
                if shape(a) != shape(b):
                    mismatches.append((expr, a, b))
            rfc = lambda x: datetime.fromtimestamp(x, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
            for params in (
                {"query": "up", "time": "x"}, {"query": ""}, {"query": "up", "start": "1", "end": "0", "step": "1"},
                # parameter forms: RFC 3339 times, durations for step and timeout, the 11,000-point bound
                {"query": "up", "time": rfc(last - 0.5)},
                {"query": "temperature", "start": rfc(last - 8.5), "end": t, "step": "2s"},
                {"query": "temperature", "start": f"{last - 8.5:.3f}", "end": rfc(last - 0.5), "step": "1.5"},
                {"query": "up", "time": t, "timeout": "5s"},
                {"query": "up", "time": t, "timeout": "soon"},
                {"query": "up", "start": "0", "end": "100000", "step": "1"},
                {"query": "up", "start": "0", "end": "10", "step": "0"},
                {"query": "up", "start": "0", "end": "10", "step": "-1s"},
                {"query": "up", "start": "0", "end": "10"},
            ):
                path = "/api/v1/query_range" if "start" in params else "/api/v1/query"
                a = await get(prom.url, path, **params)
                b = await get(ours, path, **params)
                if (a[0], a[1]["status"], a[1].get("errorType")) != (b[0], b[1]["status"], b[1].get("errorType")):
                    mismatches.append((params, a, b))
                elif a[0] == 200 and _normalise(a[1]) != _normalise(b[1]):
                    mismatches.append((params, a, b))
            assert mismatches == [], json.dumps(mismatches)[:3000]
            assert len(answered) == len(INSTANT) - 1   # every expression but `nope` has a result to compare
    finally:
        prom.stop()
        if api_runner is not None:
            await api_runner.cleanup()
        await target_runner.cleanup()
