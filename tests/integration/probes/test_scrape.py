"""ScrapeProbe against a real aiohttp server exposing Prometheus text."""

from __future__ import annotations

import math

from aiohttp import web

from watchdog.probes.registry import TARGET_MODELS
from watchdog.probes.scrape import ScrapeProbe

GOOD = (
    "# HELP reqs Requests.\n# TYPE reqs counter\n"
    'reqs{code="200",job="app",instance="pod-1"} 10 1700000000000\n'
    'reqs{code="500"} 2\n'
    "temp NaN\nmax +Inf\n"
)


def app(bodies: dict[str, bytes]) -> web.Application:
    async def handler(request):
        name = request.match_info["name"]
        if name == "fail":
            return web.Response(status=503, text="no")
        return web.Response(body=bodies[name], content_type="text/plain")

    a = web.Application()
    a.router.add_get("/{name}", handler)
    return a


def target(url: str, **kw):
    return TARGET_MODELS["scrape"].model_validate({"name": "app", "type": "scrape", "url": url, "timeout": "2s", "labels": {"team": "web"}, **kw})


async def scrape(clock, t):
    p = ScrapeProbe(t, clock=clock)
    try:
        return await p.probe(), p
    finally:
        await p.close()


def by_name(result) -> dict[str, list]:
    out: dict[str, list] = {}
    for labels, value in result.samples:
        out.setdefault(labels.metric_name, []).append((labels.to_dict(), value))
    return out


async def test_scrape_writes_series_with_exported_labels(serve, clock):
    base = await serve(app({"good": GOOD.encode()}))
    r, _ = await scrape(clock, target(f"{base}/good"))
    assert r.success, r.reason
    s = by_name(r)
    instance = base.removeprefix("http://")
    assert s["up"] == [({"__name__": "up", "job": "app", "instance": instance, "target": "app", "team": "web"}, 1.0)]
    assert s["scrape_samples_scraped"][0][1] == 4 and s["probe_success"][0][1] == 1
    reqs = {lbl["code"]: lbl for lbl, _ in s["reqs"]}
    assert reqs["200"] == {"__name__": "reqs", "code": "200", "exported_job": "app", "exported_instance": "pod-1",
                           "job": "app", "instance": instance, "target": "app", "team": "web"}
    assert "exported_job" not in reqs["500"]
    assert math.isnan(s["temp"][0][1]) and s["max"][0][1] == math.inf


async def test_honor_labels_keeps_the_targets_labels(serve, clock):
    base = await serve(app({"good": GOOD.encode()}))
    r, _ = await scrape(clock, target(f"{base}/good", honor_labels=True))
    reqs = {lbl["code"]: lbl for lbl, _ in by_name(r)["reqs"]}
    assert reqs["200"]["instance"] == "pod-1" and "exported_instance" not in reqs["200"]


async def test_repeated_scrapes_reuse_labels(serve, clock):
    base = await serve(app({"good": GOOD.encode()}))
    p = ScrapeProbe(target(f"{base}/good"), clock=clock)
    try:
        first, second = await p.probe(), await p.probe()
    finally:
        await p.close()
    assert [lbl for lbl, _ in first.samples] == [lbl for lbl, _ in second.samples]
    assert first.samples[0][0] is second.samples[0][0]


async def test_scrape_failures_have_reasons(serve, clock):
    bodies = {
        "garbage": b"ok 1\nthis is { not exposition\n",
        "latin1": "caf\xe9 1\n".encode("latin-1"),
        "many": "".join(f"m{i} {i}\n" for i in range(20)).encode(),
        "dup": b'x{a="1"} 1\nx{a="1"} 2\n',
        "big": b"x 1\n" * 10000,
    }
    base = await serve(app(bodies))
    cases = {
        "garbage": ({}, "line 2: invalid sample line 'this is { not exposition'"),
        "latin1": ({}, "body is not valid UTF-8 (byte 3)"),
        "many": ({"sample_limit": 10}, "sample limit exceeded (20 > 10)"),
        "dup": ({}, "duplicate series 'x{a=\"1\"}'"),
        "big": ({"max_body_bytes": 1000}, "body larger than 1000 bytes"),
        "fail": ({}, "status 503, expected 200"),
    }
    for name, (kw, reason) in cases.items():
        r, _ = await scrape(clock, target(f"{base}/{name}", **kw))
        assert (r.success, r.reason) == (False, reason), name
        s = by_name(r)
        assert s["up"][0][1] == 0 and s["scrape_samples_scraped"][0][1] == 0
        assert set(s) == {"up", "probe_success", "scrape_duration_seconds", "probe_duration_seconds", "scrape_samples_scraped"}
