"""Self-healing latency: a fault injected into the demo service, the real daemon pages, restarts it and verifies.

Everything is real and on loopback: `watchdog demo-service` (detached, as `make run` starts it), `watchdog run`
as a subprocess with a benchmark config (probe and evaluation interval 1 s, `for: 0s`, group_wait 0), a
webhook receiver served by this script (it timestamps every notice on arrival), and the shipped
`remediations/scripts/restart-demo.sh` as the action, verified by `probe_success == 1` (verify.interval 1 s, the
spec's default: the check re-runs as soon as a probe sample it reads lands, and the daemon probes the target when
the action ends, so the interval is only a fallback). This script also
polls the demo's /health every 10 ms to know when the service is really healthy again.

Per repetition: POST /break?mode=crash (or 500), then the times from the fault to
  probe      the first failed probe sample (its timestamp, through GET /api/v1/query)
  alert      the alert.firing event on the daemon's timeline (GET /api/v1/events)
  page       the firing notice arriving at the webhook
  action     the remediation.started event
  healthy    /health answering 200 again (seen by this script)
  verified   the remediation.verified event (and verified - healthy, the goal being <= one probe interval)
  resolved   the resolved notice arriving at the webhook
Prints JSON with median and max of each over the repetitions.

    .venv/bin/python benchmarks/remediation.py --repetitions 20 --mode crash
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
RESTART_SCRIPT = ROOT / "remediations" / "scripts" / "restart-demo.sh"
PROBE_INTERVAL = 1.0
STEPS = ("probe", "alert", "page", "action", "healthy", "verified", "resolved")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp: Path, *, demo_port: int, api_port: int, hook_url: str, verify_interval: float) -> Path:
    (tmp / "bench.rules.yml").write_text(f"""
groups:
  - name: bench
    interval: {PROBE_INTERVAL:g}s
    rules:
      - alert: BenchDemoDown
        expr: probe_success{{target="demo"}} == 0
        for: 0s
        labels: {{severity: critical}}
        annotations: {{summary: "demo is down"}}
""")
    (tmp / "bench-remediations.yml").write_text(f"""
remediations:
  - name: restart-demo
    match: ['alertname="BenchDemoDown"']
    action:
      type: command
      argv: [{json.dumps(str(RESTART_SCRIPT))}, "--target={{{{ $labels.target }}}}"]
      timeout: 30s
      env: [PATH, HOME, WATCHDOG_DEMO_PORT, WATCHDOG_DEMO_PIDFILE]
    verify: {{expr: 'probe_success{{target="demo"}} == 1', within: 30s, interval: {round(verify_interval * 1000)}ms}}
    guardrails: {{cooldown: 0s, max_attempts: 1000, window: 1h, max_concurrent: 1}}
""")
    config = tmp / "bench.yml"
    config.write_text(f"""
global: {{scrape_interval: {PROBE_INTERVAL:g}s, evaluation_interval: {PROBE_INTERVAL:g}s}}
storage: {{path: {json.dumps(str(tmp / "bench.db"))}}}
api: {{listen: "127.0.0.1:{api_port}"}}
targets:
  - {{name: demo, type: http, url: "http://127.0.0.1:{demo_port}/health", interval: {PROBE_INTERVAL:g}s, timeout: 500ms, labels: {{service: demo}}}}
rule_files: [bench.rules.yml]
remediation_files: [bench-remediations.yml]
# 20 faults in a row are flapping by design: damping would (rightly) fold the notices into one summary
damping: {{flapping: {{enabled: false}}}}
alerting:
  route: {{receiver: bench, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
  receivers:
    - name: bench
      webhook_configs: [{{url: "{hook_url}", send_resolved: true}}]
""")
    return config


class Webhook:
    """Timestamps every notice on arrival: (time, status)."""

    def __init__(self) -> None:
        self.notices: list[tuple[float, str]] = []
        self.arrived = asyncio.Event()

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.notices.append((time.time(), str(body.get("status"))))
        self.arrived.set()
        return web.Response(text="ok")

    def first(self, status: str, after: float) -> float | None:
        return next((t for t, s in self.notices if s == status and t >= after), None)


async def wait_for(predicate: Any, timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(step)


async def health_ok(session: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with session.get(f"http://127.0.0.1:{port}/health", timeout=aiohttp.ClientTimeout(total=0.5)) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return False


async def healthy_again(session: aiohttp.ClientSession, port: int, timeout: float) -> float:
    """When /health answers 200 again after having failed (polled every 10 ms)."""
    failed = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = await health_ok(session, port)
        if not ok:
            failed = True
        elif failed:
            return time.time()
        await asyncio.sleep(0.01)
    raise TimeoutError("demo service did not come back")


async def events_since(session: aiohttp.ClientSession, api: str, since: float) -> list[dict[str, Any]]:
    async with session.get(f"{api}/api/v1/events", params={"since": f"{since:.3f}", "limit": "1000"}) as resp:
        return (await resp.json())["data"]["events"]


def event_time(events: list[dict[str, Any]], kind: str) -> float | None:
    for e in events:
        if e.get("kind") == kind:
            t = e.get("time")
            if isinstance(t, (int, float)):
                return float(t)
            return datetime.fromisoformat(str(t).replace("Z", "+00:00")).timestamp()
    return None


async def one_repetition(session: aiohttp.ClientSession, hook: Webhook, api: str, demo_port: int, mode: str) -> dict[str, float]:
    fault = time.time()
    watcher = asyncio.create_task(healthy_again(session, demo_port, 60))
    await asyncio.sleep(0.02)   # the watcher's first poll sees the service up; the fault comes after it
    fault = time.time()
    async with session.post(f"http://127.0.0.1:{demo_port}/break", params={"mode": mode}) as resp:
        assert resp.status == 200, resp.status
    healthy = await watcher

    async def resolved() -> float | None:
        return hook.first("resolved", fault)

    try:
        resolved_at = await wait_for(resolved, 60, "no resolved notice")
    except TimeoutError:
        events = await events_since(session, api, fault - 0.001)
        raise RuntimeError(f"no resolved notice; notices {hook.notices[-4:]}, fault {fault:.3f}, "
                           f"events {[(e.get('time'), e.get('kind'), e.get('note') or e.get('reason')) for e in events]}") from None
    async def verified() -> list[dict[str, Any]] | None:
        # the alert may resolve on a probe taken while the action was still finishing; verification needs a later one
        found = await events_since(session, api, fault - 0.001)
        return found if event_time(found, "remediation.verified") is not None else None

    events = await wait_for(verified, 40, "no remediation.verified event")
    probe_failed = await first_failed_probe(session, api, fault)
    times = {
        "probe": probe_failed,
        "alert": event_time(events, "alert.firing"),
        "page": hook.first("firing", fault),
        "action": event_time(events, "remediation.started"),
        "healthy": healthy,
        "verified": event_time(events, "remediation.verified"),
        "resolved": resolved_at,
    }
    missing = [k for k, v in times.items() if v is None]
    if missing:
        raise RuntimeError(f"missing {missing}; events: {[e.get('kind') for e in events]}")
    out = {k: round(float(v) - fault, 3) for k, v in times.items() if v is not None}
    out["verified_after_healthy"] = round(out["verified"] - out["healthy"], 3)
    return out


async def first_failed_probe(session: aiohttp.ClientSession, api: str, fault: float) -> float | None:
    """Timestamp of the first failed probe sample after the fault (a raw range selector, through the API)."""
    params = {"query": 'probe_success{target="demo"}[60s]', "time": f"{time.time():.3f}"}
    async with session.get(f"{api}/api/v1/query", params=params) as resp:
        data = (await resp.json())["data"]["result"]
    samples = sorted((float(t), float(v)) for series in data for t, v in series.get("values", []))
    return next((t for t, v in samples if t >= fault and v == 0.0), None)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3), "min": round(min(values), 3)}


async def run(repetitions: int, mode: str, verify_interval: float, settle: float) -> dict[str, Any]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/hook", hook.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]
    demo_port, api_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="wd-bench-remediation-") as tmp_name:
        tmp = Path(tmp_name)
        pidfile = tmp / "demo.pid"
        env = {**os.environ, "WATCHDOG_DEMO_PORT": str(demo_port), "WATCHDOG_DEMO_PIDFILE": str(pidfile),
               "PATH": f"{Path(python).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        subprocess.run([python, "-m", "watchdog.cli", "demo-service", "--port", str(demo_port), "--detach",
                        "--pidfile", str(pidfile), "--log-file", str(tmp / "demo.log")], check=True, env=env, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        config = write_config(tmp, demo_port=demo_port, api_port=api_port, hook_url=hook_url, verify_interval=verify_interval)
        log = open(tmp / "daemon.log", "wb")
        daemon = subprocess.Popen([python, "-m", "watchdog.cli", "run", "-c", str(config), "--log-level", "warning"],
                                  env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        results: list[dict[str, float]] = []
        phases = random.Random(7)
        try:
            async with aiohttp.ClientSession() as session:
                async def ready() -> bool:
                    try:
                        async with session.get(f"{api}/readyz") as resp:
                            return resp.status == 200
                    except aiohttp.ClientError:
                        return False

                await wait_for(ready, 30, "daemon not ready")
                await asyncio.sleep(2 * PROBE_INTERVAL + 0.5)   # a few healthy probe rounds before the first fault
                for i in range(repetitions):
                    results.append(await one_repetition(session, hook, api, demo_port, mode))
                    print(f"repetition {i + 1}/{repetitions}: {results[-1]}", file=sys.stderr)
                    # a random idle gap: faults must land at random phases of the probe and evaluation grids
                    await asyncio.sleep(settle + phases.uniform(0, PROBE_INTERVAL))
        except BaseException:
            log.flush()
            print((tmp / "daemon.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            log.close()
            subprocess.run([python, "-m", "watchdog.cli", "demo-service", "--stop", "--pidfile", str(pidfile)],
                           env=env, cwd=ROOT, capture_output=True)
            await runner.cleanup()
    return {
        "benchmark": "remediation",
        "mode": mode,
        "repetitions": len(results),
        "probe_interval_seconds": PROBE_INTERVAL,
        "evaluation_interval_seconds": PROBE_INTERVAL,
        "verify_interval_seconds": verify_interval,
        "seconds_from_fault": {step: summary([r[step] for r in results]) for step in STEPS},
        "verified_after_healthy_seconds": summary([r["verified_after_healthy"] for r in results]),
        "goal": {
            "page_before_alertmanager_median_1_10s": statistics.median(r["page"] for r in results) < 1.10,
            "action_before_alertmanager_median_1_10s": statistics.median(r["action"] for r in results) < 1.10,
            "verified_within_one_probe_interval_of_healthy": max(r["verified_after_healthy"] for r in results) <= PROBE_INTERVAL,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--mode", choices=("crash", "500"), default="crash")
    parser.add_argument("--verify-interval", type=float, default=1.0, help="the remediation's verify.interval (seconds): only a fallback, the check re-runs when a probe sample lands")
    parser.add_argument("--settle", type=float, default=1.0, help="idle seconds between repetitions (plus 0..1 probe interval at random)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.repetitions, args.mode, args.verify_interval, args.settle)), indent=2))


if __name__ == "__main__":
    main()
