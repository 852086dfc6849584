"""Crash test: SIGKILL the daemon at random points while notices are in flight, restart it, and check
that every firing notice was followed by its resolved notice and that no notice arrived twice.

Three HTTP targets flip between healthy and failing; each flip makes the daemon fire or resolve an
alert group and post to a webhook channel that answers slowly (so sends are in flight when the
kill comes). After >= 20 kills the targets heal and the daemon runs until every group that fired
has been resolved. A duplicate is the same group, status and alert set (with their start/end
times) arriving twice; the one window no outbox can close (the channel accepted, the process died
before the notification log was written) is counted and reported, and every repeat must trace
back to a kill that came while its earlier copy was in flight or just answered.
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
# How long after the channel's answer a kill still counts as "before the log write". The write
# itself takes milliseconds, but on a loaded 2-core CI box (several suites at once) the killed
# daemon was once seen not to have logged an answer 0.99 s old; a resend beyond this is a bug.
LOG_GRACE = 2.0

pytestmark = pytest.mark.e2e


class World:
    """The targets (health per index) and the channel (what arrived)."""

    def __init__(self, rng: random.Random) -> None:
        self.healthy = [True] * TARGETS
        self.posts: list[dict] = []
        self.timings: list[tuple[float, float]] = []   # per post: (request arrived, answer sent), monotonic
        self.kills: list[float] = []                    # when each SIGKILL was sent, monotonic
        self.rng = rng

    async def health(self, request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        return web.Response(status=200 if self.healthy[i] else 500, text="ok" if self.healthy[i] else "down")

    async def hook(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        body = await request.json()
        await asyncio.sleep(self.rng.uniform(0.0, 0.15))   # a slow channel: kills land mid-send
        # Accepted even if the sender died meanwhile (as a real channel would): that is the window.
        self.posts.append(body)
        self.timings.append((arrived, time.monotonic()))
        return web.json_response({"ok": True})

    def unexplained_duplicates(self) -> list[tuple]:
        """Repeats of a notice that no kill can explain.

        A repeat is explained only when a SIGKILL came while the earlier copy was in flight or just
        after the channel answered it (before the daemon could log the acceptance: `LOG_GRACE`);
        a copy answered to a live daemon and still sent again is a bug, and must never happen.
        """
        copies: dict[tuple, list[int]] = {}
        for n, post in enumerate(self.posts):
            copies.setdefault(identity(post), []).append(n)
        unexplained = []
        for key, indexes in copies.items():
            for n in indexes[:-1]:
                arrived, answered = self.timings[n]
                if not any(arrived <= k <= answered + LOG_GRACE for k in self.kills):
                    later = [round(k - answered, 3) for k in self.kills if k >= arrived][:1]
                    again = [round(self.timings[m][0] - answered, 3) for m in indexes if m > n][:1]
                    unexplained.append((key, {"answered_to_next_kill_s": later, "answered_to_resend_s": again}))
        return unexplained


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
                world.kills.append(time.monotonic())
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
    unexplained = world.unexplained_duplicates()
    # A stricter view: the same group, status and alert set twice in a row, whatever the times say
    # (a notice rebuilt after a restart instead of re-sent from the outbox would differ only in them).
    # Counted for the record: a restart may rebuild such a notice (the alert resolved and fired
    # again while the daemon was dead), and a live daemon sends one for an alert that resolved and
    # fired again between two flushes (a new episode).
    previous: dict[str, tuple[tuple, int]] = {}
    repeats = 0
    rebuilt_without_restart = []
    for n, p in enumerate(world.posts):
        shape = (p["status"], tuple(sorted((a["fingerprint"], a["status"]) for a in p["alerts"])))
        before = previous.get(p["groupKey"])
        if before is not None and before[0] == shape:
            repeats += 1
            m = before[1]
            restarted = any(world.timings[m][0] <= k <= world.timings[n][0] for k in world.kills)
            if identity(world.posts[m]) != identity(p) and not restarted:
                rebuilt_without_restart.append((p["groupKey"], shape))
        previous[p["groupKey"]] = (shape, n)
    firing = sum(1 for p in world.posts if p["status"] == "firing")
    resolved = sum(1 for p in world.posts if p["status"] == "resolved")
    report = {"kills": KILLS, "seed": SEED, "notices": len(world.posts), "firing": firing, "resolved": resolved,
              "duplicates": duplicates, "repeats_ignoring_times": repeats,
              "unexplained_duplicates": len(unexplained), "new_episode_repeats_live": len(rebuilt_without_restart),
              "seconds": round(elapsed, 1)}
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
    # No notice twice, except in the one unavoidable window: every repeat must trace back to a kill
    # that came while its earlier copy was in flight (or answered and not yet logged). How many
    # repeats that gives depends on where the random kills land, so it is reported, not bounded by a
    # guess; a repeat no kill explains (a restart or reload resending what was delivered) fails.
    assert unexplained == [], (report, unexplained)
    # (A same-shape notice with new times is not asserted on: an alert that resolved and fired again
    # between two flushes is a new episode; `repeats_ignoring_times` is reported for the record.)
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
