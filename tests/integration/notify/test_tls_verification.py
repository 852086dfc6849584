"""TLS: verified by default; `insecure_skip_verify: true` is explicit and logged (webhook, PagerDuty, Slack)."""

from __future__ import annotations

import logging
import ssl

import pytest
from aiohttp import web

from notify_channel_helpers import notice, receiver_cfg
from watchdog.notify.base import RetryableError
from watchdog.notify.registry import build_integrations
from watchdog.testing.fakeclock import FakeClock
from watchdog.testing.smtp_server import self_signed_cert


@pytest.fixture
async def https_url(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    got: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(request.path)
        await request.read()
        if request.path.startswith("/v2/"):
            return web.json_response({"status": "success", "dedup_key": "k"}, status=202)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    yield f"https://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", got, cert  # type: ignore[attr-defined]
    await runner.cleanup()


KINDS = {
    "webhook": lambda base, tls: {"webhook_configs": [{"url": f"{base}/hook", "http_config": {"tls_config": tls}}]},
    "pagerduty": lambda base, tls: {"pagerduty_configs": [{"routing_key": "k" * 32, "url": f"{base}/v2/enqueue",
                                                          "http_config": {"tls_config": tls}}]},
    "slack": lambda base, tls: {"slack_configs": [{"api_url": f"{base}/services/T/B/X", "http_config": {"tls_config": tls}}]},
}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_verification_on_by_default_and_skipping_it_is_logged(https_url, kind, caplog):
    base, got, cert = https_url
    clock = FakeClock()
    (integ,) = build_integrations(receiver_cfg(**KINDS[kind](base, {})), clock=clock)
    with pytest.raises(RetryableError) as failed:
        await integ.notifier.send(notice())
    await integ.notifier.close()
    assert failed.value.reason == "network" and got == []      # the self-signed certificate was refused

    (trusted,) = build_integrations(receiver_cfg(**KINDS[kind](base, {"ca_file": cert})), clock=clock)
    await trusted.notifier.send(notice())                      # our CA: verified and accepted
    await trusted.notifier.close()
    assert len(got) == 1

    with caplog.at_level(logging.WARNING, logger="watchdog.notify"):
        cfg = receiver_cfg(**KINDS[kind](base, {"insecure_skip_verify": True}))
        cfg = cfg.model_copy(update={"name": f"insecure-{kind}"})
        (insecure,) = build_integrations(cfg, clock=clock)
        await insecure.notifier.send(notice(receiver=f"insecure-{kind}"))
        await insecure.notifier.close()
    assert len(got) == 2
    assert "certificate verification is disabled (insecure_skip_verify)" in caplog.text
