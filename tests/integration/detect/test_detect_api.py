"""GET /api/v1/detectors over a real aiohttp server and a real DetectorRunner (series store, engine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from watchdog.api import detect_routes
from watchdog.api.context import CTX
from watchdog.detect.runner import DetectorRunner
from watchdog.detect.spec import specs_from_doc
from watchdog.config.yamlpos import load_yaml_text
from watchdog.model import Labels
from watchdog.promql import Engine
from watchdog.tsdb import SeriesStore

SPECS = """
detectors:
  - {name: lat, input: latency_seconds, algorithm: ensemble, params: {}, warmup: 1m}
  - {name: slow, input: latency_seconds, algorithm: ewma, warmup: 1h}
"""


@dataclass
class Ctx:
    clock: Any
    detector_runner: Any = None


async def serve(ctx):
    app = web.Application()
    app[CTX] = ctx
    detect_routes.register(app, ctx)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


async def test_lists_detectors_series_scores_and_warmup(fake_clock):
    specs, errors = specs_from_doc(load_yaml_text(SPECS, "d.yml"))
    assert errors == []
    series = SeriesStore()
    runner = DetectorRunner(specs, engine=Engine(series), series=series, clock=fake_clock)
    for i in range(5):
        for inst in ("a", "b"):
            series.append(Labels.of(__name__="latency_seconds", instance=inst), 0.1 + i * 0.01, fake_clock.now())
        await runner.step(fake_clock.now())
        fake_clock.advance(60)
    ctx = Ctx(clock=fake_clock, detector_runner=runner)
    server = await serve(ctx)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(server.make_url("/api/v1/detectors")) as r:
                assert r.status == 200
                body = await r.json()
            async with s.get(server.make_url("/api/v1/detectors?detector=slow&limit=1")) as r:
                one = (await r.json())["data"]["detectors"]
            async with s.get(server.make_url("/api/v1/detectors?limit=-1")) as r:
                assert r.status == 400 and (await r.json())["errorType"] == "bad_data"
            ctx.detector_runner = None
            async with s.get(server.make_url("/api/v1/detectors")) as r:
                assert (await r.json())["data"]["detectors"] == []
    finally:
        await server.close()
    assert body["status"] == "success"
    by_name = {d["name"]: d for d in body["data"]["detectors"]}
    assert set(by_name) == {"lat", "slow"}
    lat = by_name["lat"]
    assert lat["algorithm"] == "ensemble" and lat["health"] == "ok" and lat["seriesCount"] == 2
    assert {s["labels"]["instance"] for s in lat["series"]} == {"a", "b"}
    assert all(s["warm"] is False and s["score"] == 0.0 for s in lat["series"])   # 5 samples: still warming up
    assert lat["lastEvaluation"].endswith("Z") and lat["series"][0]["lastRefit"] is None
    assert len(one) == 1 and one[0]["name"] == "slow" and one[0]["seriesCount"] == 2 and len(one[0]["series"]) == 1
