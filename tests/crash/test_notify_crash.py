"""Crash test: SIGKILL the daemon at random points while notices are in flight, restart it, and check
that every firing notice was followed by its resolved notice and that no notice arrived twice.

Three HTTP targets flip between healthy and failing; each flip makes the daemon fire or resolve an
alert group and post to a webhook channel that answers slowly (so sends are in flight when the
kill comes). After >= 20 kills the targets heal and the daemon runs until every group that fired
has been resolved. A duplicate is the same group, status and alert set (with their start/end
times) arriving twice; the one window no outbox can close (the channel accepted, the process died
before the notification log was written) is counted and reported, and must stay rare.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
TARGETS = 3
KILLS = 22
SEED = int(os.environ.get("WATCHDOG_CRASH_SEED", "20240601"))

pytestmark = pytest.mark.e2e


class World:
    """The targets (health per index) and the channel (what arrived)."""

    def __init__(self, rng: random.Random) -> None:
        self.healthy = [True] * TARGETS
        self.posts: list[dict] = []
        self.rng = rng

    async def health(self, request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        return web.Response(status=200 if self.healthy[i] else 500, text="ok" if self.healthy[i] else "down")

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(self.rng.uniform(0.0, 0.15))   # a slow channel: kills land mid-send
        self.posts.append(body)
        return web.json_response({"ok": True})


def identity(post: dict) -> tuple:
    alerts = tuple(sorted((a["fingerprint"], a["status"], a["startsAt"], a["endsAt"]) for a in post["alerts"]))
    return (post["groupKey"], post["status"], alerts)


def write_config(directory: Path, port: int, api_port: int) -> Path:
    (directory / "crash.rules.yml").write_text("""\
groups:
  - name: crash
    interval: 200ms
    rules:
      - alert: TargetDown
        expr: probe_success == 0
        labels: {severity: page}
        annotations: {summary: "{{ $labels.target }} is down"}
""")
    targets = "\n".join(
        f"  - {{name: t{i}, type: http, url: 'http://127.0.0.1:{port}/health/{i}', interval: 200ms, timeout: 150ms}}"
        for i in range(TARGETS))
    config = directory / "config.yaml"
    config.write_text(f"""\
global: {{scrape_interval: 1s, evaluation_interval: 200ms}}
storage: {{path: ./wd.db}}
api: {{listen: "127.0.0.1:{api_port}"}}
targets:
{targets}
rule_files: [crash.rules.yml]
alerting:
  route: {{receiver: hook, group_by: [alertname, target], group_wait: 0s, group_interval: 500ms, repeat_interval: 1h}}
  receivers:
    - name: hook
      webhook_configs: [{{url: "http://127.0.0.1:{port}/hook"}}]
daemon: {{drain_timeout: 2s}}
""")
    return config


def start_daemon(config: Path, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "watchdog.cli", "run", "-c", str(config), "--log-level", "warning"],
                            cwd=config.parent, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def test_sigkill_while_notices_are_in_flight(tmp_path, request, record_property):
    rng = random.Random(SEED)
    world = World(rng)
    app = web.Application()
    app.router.add_get("/health/{i}", world.health)
    app.router.add_post("/hook", world.hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        api_port = s.getsockname()[1]
    config = write_config(tmp_path, port, api_port)
    log_path = tmp_path / "daemon.log"
    started = time.monotonic()
    try:
        with open(log_path, "ab") as log:
            for kill in range(KILLS):
                proc = start_daemon(config, log)
                # flips while it runs: alerts fire and resolve, notices are queued and sent
                for _ in range(2):
                    await asyncio.sleep(rng.uniform(0.3, 0.8))
                    i = rng.randrange(TARGETS)
                    world.healthy[i] = not world.healthy[i]
                await asyncio.sleep(rng.uniform(0.0, 0.6))
                os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
            world.healthy = [True] * TARGETS
            proc = start_daemon(config, log)
            fired = lambda: {p["groupKey"] for p in world.posts if p["status"] == "firing"}
            last = lambda: {p["groupKey"]: p["status"] for p in world.posts}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(last()[g] != "resolved" for g in fired()):
                await asyncio.sleep(0.2)
            # anything still queued (retries with backoff on a loaded machine) arrives before we stop it
            await _outbox_drained(tmp_path / "wd.db", timeout=30)
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 15)
    finally:
        await runner.cleanup()
    elapsed = time.monotonic() - started
    counts = Counter(identity(p) for p in world.posts)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    firing = sum(1 for p in world.posts if p["status"] == "firing")
    resolved = sum(1 for p in world.posts if p["status"] == "resolved")
    report = {"kills": KILLS, "seed": SEED, "notices": len(world.posts), "firing": firing, "resolved": resolved,
              "duplicates": duplicates, "seconds": round(elapsed, 1)}
    # Reported even without -s: on the terminal summary and as junit properties.
    print("crash test:", json.dumps(report))
    for key, value in report.items():
        record_property(key, value)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"notify crash test: {duplicates} duplicate(s) in {len(world.posts)} notices over {KILLS} SIGKILLs "
                            "(the accepted-but-not-yet-logged window): " + json.dumps(report))
    log_text = log_path.read_text(errors="replace")[-4000:]
    assert firing >= 5, (report, log_text)                 # the kills really hit a busy pipeline
    # every group that fired ended resolved, and each firing notice was followed by a resolved one
    by_group: dict[str, list[str]] = {}
    for p in world.posts:
        by_group.setdefault(p["groupKey"], []).append(p["status"])
    assert all(statuses[-1] == "resolved" for statuses in by_group.values()), (by_group, log_text)
    # no notice twice, beyond the one unavoidable window (accepted, killed before the log write)
    # Measured 2-3 per 22 kills on a busy 2-core machine (docs/notifications.md); more means the window grew.
    # The bound is loose on purpose (CI shares 2 cores): it catches a window that grew, not noise.
    assert duplicates <= max(1, KILLS // 3), (report, [k for k, n in counts.items() if n > 1])
    from watchdog.state.sqlite import SqliteStore

    store = SqliteStore(str(tmp_path / "wd.db"))
    await store.open()
    try:
        assert await store.outbox_all() == []
        final_failures = [e for e in await store.events(kinds=["notification.failed"], limit=100000) if e.data.get("final")]
        assert final_failures == []
    finally:
        await store.close()


async def _outbox_drained(db_path, timeout: float) -> None:
    """Poll the daemon's outbox (a second, read-only SQLite connection; WAL allows it) until empty."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
            try:
                if conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0:
                    return
            finally:
                conn.close()
        except sqlite3.Error:
            pass
        await asyncio.sleep(0.2)
