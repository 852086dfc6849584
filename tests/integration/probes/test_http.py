"""HttpProbe against real aiohttp servers on loopback."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest
from aiohttp import web

from watchdog.probes.http import HttpProbe, new_session
from watchdog.probes.registry import TARGET_MODELS


def app() -> web.Application:
    async def ok(request):
        return web.json_response({"status": "ok", "items": [{"name": "a"}, {"name": "b"}]})

    async def fail(request):
        return web.Response(status=500, text="boom")

    async def hang(request):
        await asyncio.sleep(30)
        return web.Response(text="late")

    async def slow(request):
        await asyncio.sleep(0.2)
        return web.Response(text="slow")

    async def huge(request):
        # 1 GB streamed without Content-Length: the probe must stop at its cap
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"x" * 65536
        for _ in range((1 << 30) // len(chunk)):
            await resp.write(chunk)
        return resp

    async def huge_declared(request):
        resp = web.StreamResponse(headers={"Content-Length": str(1 << 30)})
        await resp.prepare(request)
        await resp.write(b"x" * 1024)
        await asyncio.sleep(30)
        return resp

    async def loop(request):
        raise web.HTTPFound("/loop")

    async def redirect(request):
        raise web.HTTPFound("/ok")

    async def auth(request):
        if request.headers.get("Authorization") != "Bearer s3cret":
            return web.Response(status=401)
        return web.Response(text="welcome")

    async def echo(request):
        return web.Response(text=f"{request.method}:{await request.text()}")

    a = web.Application()
    a.router.add_get("/ok", ok)
    a.router.add_get("/500", fail)
    a.router.add_get("/hang", hang)
    a.router.add_get("/slow", slow)
    a.router.add_get("/huge", huge)
    a.router.add_get("/huge-declared", huge_declared)
    a.router.add_get("/loop", loop)
    a.router.add_get("/redirect", redirect)
    a.router.add_get("/auth", auth)
    a.router.add_route("*", "/echo", echo)
    return a


def http_target(url: str, **kw):
    return TARGET_MODELS["http"].model_validate({"name": "web", "type": "http", "url": url, "timeout": "2s", **kw})


async def run_probe(clock, target, session=None):
    probe = HttpProbe(target, clock=clock, session=session)
    try:
        return await probe.probe()
    finally:
        await probe.close()


def series(result) -> dict[str, float]:
    return {labels.metric_name: value for labels, value in result.samples}


async def test_ok_with_labels_and_series(serve, clock):
    base = await serve(app())
    r = await run_probe(clock, http_target(f"{base}/ok", labels={"service": "demo"}, json_path=[{"path": "$.status", "equals": "ok"}]))
    assert r.success and r.reason == ""
    s = series(r)
    assert s["probe_success"] == 1 and s["probe_http_status_code"] == 200 and s["probe_http_content_length"] > 10
    assert 0 < s["probe_duration_seconds"] < 2
    labels = r.samples[0][0].to_dict()
    assert labels == {"__name__": "probe_success", "target": "web", "job": "web", "instance": f"{base}/ok", "service": "demo"}


async def test_status_500_fails_with_reason(serve, clock):
    base = await serve(app())
    r = await run_probe(clock, http_target(f"{base}/500"))
    assert not r.success and r.reason == "status 500 not in 2xx"
    assert series(r)["probe_http_status_code"] == 500 and series(r)["probe_success"] == 0
    r = await run_probe(clock, http_target(f"{base}/500", valid_status_codes=[500, "200-299"]))
    assert r.success


async def test_hang_beyond_timeout(serve, clock):
    base = await serve(app())
    t0 = time.monotonic()
    r = await run_probe(clock, http_target(f"{base}/hang", timeout="300ms"))
    assert not r.success and r.reason == "timeout after 300ms"
    assert time.monotonic() - t0 < 1.5


async def test_one_gigabyte_body_fails_fast_at_the_cap(serve, clock):
    base = await serve(app())
    t0 = time.monotonic()
    r = await run_probe(clock, http_target(f"{base}/huge"))
    assert not r.success and r.reason == "body larger than 1048576 bytes"
    r2 = await run_probe(clock, http_target(f"{base}/huge-declared", max_body_bytes=4096))
    assert not r2.success and r2.reason == "body larger than 4096 bytes"
    assert time.monotonic() - t0 < 2.0


async def test_redirects_followed_and_loops_capped(serve, clock):
    base = await serve(app())
    r = await run_probe(clock, http_target(f"{base}/redirect"))
    assert r.success and series(r)["probe_http_status_code"] == 200
    r = await run_probe(clock, http_target(f"{base}/redirect", follow_redirects=False, valid_status_codes=[302]))
    assert r.success and series(r)["probe_http_status_code"] == 302
    r = await run_probe(clock, http_target(f"{base}/loop", max_redirects=3))
    assert not r.success and r.reason == "too many redirects"


@pytest.mark.parametrize(
    "conditions, reason",
    [
        ({"body_contains": "ok"}, ""),
        ({"body_contains": "nope"}, "body does not contain 'nope'"),
        ({"body_not_contains": "status"}, "body contains 'status'"),
        ({"body_regex": '"name": ?"b"'}, ""),
        ({"body_regex": "^x"}, "body does not match regex '^x'"),
        ({"json_path": [{"path": "$.items[1].name", "equals": "b"}]}, ""),
        ({"json_path": [{"path": "$.status", "equals": "down"}]}, "$.status is 'ok', expected 'down'"),
        ({"json_path": [{"path": "$.items[5]"}]}, "$.items[5] not found"),
        ({"json_path": [{"path": "$.missing", "exists": False}]}, ""),
        ({"json_path": [{"path": "$.status", "matches": "^o"}]}, ""),
    ],
)
async def test_body_conditions(serve, clock, conditions, reason):
    base = await serve(app())
    r = await run_probe(clock, http_target(f"{base}/ok", **conditions))
    assert r.reason == reason and r.success == (reason == "")


async def test_json_path_on_non_json_body(serve, clock):
    base = await serve(app())
    r = await run_probe(clock, http_target(f"{base}/500", valid_status_codes=[500], json_path=[{"path": "$.x"}]))
    assert r.reason == "body is not valid JSON"


async def test_latency_threshold(serve, clock):
    base = await serve(app())
    r = await run_probe(clock, http_target(f"{base}/slow", latency_threshold="50ms"))
    assert not r.success and r.reason.startswith("latency ") and r.reason.endswith("over threshold 50ms")


async def test_headers_method_and_body_sent(serve, clock):
    base = await serve(app())
    r = await run_probe(clock, http_target(f"{base}/auth", headers={"Authorization": "Bearer s3cret"}, body_contains="welcome"))
    assert r.success
    r = await run_probe(clock, http_target(f"{base}/auth"))
    assert r.reason == "status 401 not in 2xx" and "s3cret" not in repr(r)
    r = await run_probe(clock, http_target(f"{base}/echo", method="post", body="ping", body_contains="POST:ping"))
    assert r.success


async def test_connection_refused(clock):
    r = await run_probe(clock, http_target("http://127.0.0.1:1/"))
    assert not r.success and r.reason.startswith("connection failed")
    assert series(r)["probe_http_status_code"] == 0


async def test_keepalive_reuses_connections_and_fresh_does_not(serve, clock):
    peers: set = set()

    async def who(request):
        peers.add(request.transport.get_extra_info("peername"))
        return web.Response(text="ok")

    a = web.Application()
    a.router.add_get("/", who)
    base = await serve(a)
    session = new_session()
    try:
        probe = HttpProbe(http_target(f"{base}/"), clock=clock, session=session)
        for _ in range(5):
            assert (await probe.probe()).success
        assert len(peers) == 1
        peers.clear()
        fresh = HttpProbe(http_target(f"{base}/", fresh_connection=True), clock=clock, session=session)
        try:
            for _ in range(3):
                assert (await fresh.probe()).success
        finally:
            await fresh.close()
        assert len(peers) == 3
    finally:
        await probe.close()
        await session.close()


async def test_tls_cert_expiry_reported(serve, clock, self_signed_cert):
    cert, key = self_signed_cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    base = await serve(app(), ssl_context=ctx)
    r = await run_probe(clock, http_target(f"{base}/ok", tls={"ca_file": str(cert)}))
    assert r.success, r.reason
    expiry = series(r)["probe_ssl_earliest_cert_expiry"]
    assert time.time() + 29 * 86400 < expiry < time.time() + 31 * 86400
    r = await run_probe(clock, http_target(f"{base}/ok"))
    assert not r.success and r.reason.startswith("TLS certificate verification failed")
    r = await run_probe(clock, http_target(f"{base}/ok", tls={"ca_file": str(cert.parent / "missing.pem")}))
    assert not r.success and r.reason.startswith("cannot load TLS settings")
