"""watchdog.apiclient: the address, token, envelope and exit-code rules every client command shares,
against a real aiohttp server on loopback."""

from __future__ import annotations

import argparse
import asyncio
import socket

import pytest
from aiohttp import web

from watchdog import apiclient
from watchdog.notify import cli as notify_cli


def _args(**kw) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="watchdog alerts")
    apiclient.add_client_arguments(parser, json=True)
    args = parser.parse_args([])
    args.command = "alerts"
    for k, v in kw.items():
        setattr(args, k, v)
    return args


@pytest.fixture
async def api():
    seen: list[dict] = []

    async def ok(request: web.Request) -> web.Response:
        seen.append({"auth": request.headers.get("Authorization"), "body": await request.text(), "method": request.method})
        return web.json_response({"status": "success", "data": {"echo": request.path}})

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"status": "error", "error": "no receiver 'x'"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/api/v1/ok", ok)
    app.router.add_route("*", "/api/v1/receivers/{name}/test", missing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_address_from_url_then_config_then_default(tmp_path):
    assert apiclient.base_url(_args(url="http://h:1/")) == "http://h:1"
    cfg = tmp_path / "config.yaml"
    cfg.write_text("api: {listen: '0.0.0.0:9911'}\n")
    assert apiclient.base_url(_args(config=str(cfg))) == "http://127.0.0.1:9911"
    cfg.write_text("api: {listen: '10.1.2.3:80'}\n")
    assert apiclient.base_url(_args(config=str(cfg))) == "http://10.1.2.3:80"
    cfg.write_text("api: [unclosed\n")
    assert apiclient.base_url(_args(config=str(cfg))) == apiclient.DEFAULT_URL
    assert apiclient.base_url(_args(config=str(tmp_path / "missing.yaml"))) == apiclient.DEFAULT_URL


def test_token_from_file_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("WATCHDOG_TOKEN", "from-env")
    assert apiclient.token(_args()) == "from-env"
    (tmp_path / "tok").write_text("  from-file\n")
    assert apiclient.token(_args(token_file=str(tmp_path / "tok"))) == "from-file"
    with pytest.raises(apiclient.ClientError) as info:
        apiclient.token(_args(token_file=str(tmp_path / "absent")))
    assert info.value.code == 2 and "cannot read --token-file" in str(info.value)


async def test_call_sends_bearer_and_json_and_returns_data(api, tmp_path, monkeypatch):
    url, seen = api
    monkeypatch.delenv("WATCHDOG_TOKEN", raising=False)
    (tmp_path / "tok").write_text("s3cret\n")
    data = await asyncio.to_thread(apiclient.call, _args(url=url, token_file=str(tmp_path / "tok")), "POST", "/api/v1/ok", {"a": 1})
    assert data == {"echo": "/api/v1/ok"}
    assert seen == [{"auth": "Bearer s3cret", "body": '{"a": 1}', "method": "POST"}]


async def test_refusal_is_exit_1_with_status_and_unreachable_is_exit_2(api):
    url, _ = api
    with pytest.raises(apiclient.ClientError) as info:
        await asyncio.to_thread(apiclient.call, _args(url=url), "POST", "/api/v1/receivers/x/test", {})
    e = info.value
    assert (e.code, e.status, e.detail) == (1, 404, "no receiver 'x'")
    assert str(e) == "POST /api/v1/receivers/x/test: 404 no receiver 'x'"
    dead = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(apiclient.ClientError) as info:
        await asyncio.to_thread(apiclient.call, _args(url=dead), "GET", "/api/v1/ok")
    assert info.value.code == 2 and info.value.status is None and str(info.value).startswith(f"cannot reach the daemon at {dead}")


def test_errors_are_printed_once_with_the_command_and_become_the_exit_code(capsys):
    def refuse(args):
        raise apiclient.ClientError("GET /x: 403 forbidden")

    assert apiclient.run_reporting_errors(_args(), refuse) == 1
    assert capsys.readouterr().err == "watchdog alerts: GET /x: 403 forbidden\n"
    assert apiclient.run_reporting_errors(_args(), lambda args: 0) == 0
    assert apiclient.current_user()


async def test_notify_test_keeps_its_exit_codes_through_the_shared_client(api, capsys):
    url, _ = api
    parser = argparse.ArgumentParser(prog="watchdog notify")
    notify_cli.add_arguments(parser)
    args = parser.parse_args(["test", "x", "--url", url])
    assert await asyncio.to_thread(notify_cli.main, args) == 2
    assert "the daemon answered 404: no receiver 'x'" in capsys.readouterr().err
    args = parser.parse_args(["test", "x", "--url", f"http://127.0.0.1:{_closed_port()}"])
    assert await asyncio.to_thread(notify_cli.main, args) == 2
    err = capsys.readouterr().err
    assert "cannot reach the daemon" in err and "(use --direct -c FILE to send from here)" in err
