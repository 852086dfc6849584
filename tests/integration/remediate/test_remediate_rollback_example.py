"""The shipped rollback example: remediations/rollback-demo.yml heals a real (in-process) demo service,
with the version to go back to taken from the matched change."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from watchdog.clock import SYSTEM_CLOCK
from watchdog.demo import DemoService
from watchdog.remediate.base import ActionContext
from watchdog.remediate.command import CommandRunner
from watchdog.remediate.spec import load_remediation_files

ROOT = Path(__file__).resolve().parents[3]


async def test_rollback_demo_heals_the_service_and_names_the_previous_version():
    server = TestServer(DemoService().app(), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            base = str(server.make_url("/")).rstrip("/")
            await http.post(base + "/break?mode=500")
            assert (await http.get(base + "/health")).status == 500
            specs, errors = load_remediation_files([str(ROOT / "remediations" / "rollback-demo.yml")])
            assert errors == []
            (spec,) = specs
            assert spec.requires_change is not None and spec.requires_change.same == ["service"]
            runner = CommandRunner(environ={**os.environ, "WATCHDOG_DEMO_PORT": str(server.port)})
            ctx = ActionContext(remediation=spec.name, labels={"alertname": "DemoErrorRateHigh", "service": "demo"},
                                base_dir=spec.base_dir, change={"service": "demo", "version": "v2", "previous_version": "v1"})
            prepared = runner.prepare(spec.action, ctx)
            assert prepared.argv[1:] == ("--service=demo", "--to=v1")
            result = await runner.execute(prepared, run_id=1, ctx=ctx, clock=SYSTEM_CLOCK)
            assert result.ok, result.output_tail
            assert "rolling back demo to v1" in result.output_tail
            assert (await http.get(base + "/health")).status == 200
    finally:
        await server.close()
