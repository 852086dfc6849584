"""Probe throughput benchmark: N HTTP health targets on loopback, probed by the real scheduler.

    python benchmarks/probes.py --targets 2000 --interval 1 --duration 30 [--fresh-connection]

The targets are served by a SEPARATE process (a minimal asyncio HTTP/1.1
responder on a few ports), so this process's CPU time is the prober's alone.
Prints one JSON object. Samples go into the real SeriesStore.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESPONSE_KEEPALIVE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
RESPONSE_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class HealthProtocol(asyncio.Protocol):
    """Answers every request with 200 "ok"; honours `Connection: close`."""

    def connection_made(self, transport):  # type: ignore[override]
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end].lower(), self.buf[end + 4 :]
            if b"connection: close" in head:
                self.transport.write(RESPONSE_CLOSE)
                self.transport.close()
                return
            self.transport.write(RESPONSE_KEEPALIVE)


async def serve(ports: int) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(HealthProtocol, "127.0.0.1", 0, backlog=4096) for _ in range(ports)]
    print(json.dumps([s.sockets[0].getsockname()[1] for s in servers]), flush=True)
    await asyncio.Event().wait()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def bench(args: argparse.Namespace, ports: list[int]) -> dict:
    from watchdog.clock import SystemClock
    from watchdog.probes.registry import TARGET_MODELS
    from watchdog.probes.scheduler import ProbeScheduler

    try:
        from watchdog.tsdb import SeriesStore

        store = SeriesStore(retention=600.0, max_samples_per_series=1024)
        sink_kind = "SeriesStore"
    except ImportError:  # before the store exists, count only
        store = None
        sink_kind = "counter"

    counts = {"probes": 0, "failures": 0}
    reasons: dict[str, int] = {}
    lags: list[float] = []
    measuring = False

    def sink(name, result, t):
        if store is not None:
            store.append_batch(name, result.samples, t)
        if measuring:
            counts["probes"] += 1
            if not result.success:
                counts["failures"] += 1
                reasons[result.reason] = reasons.get(result.reason, 0) + 1

    def on_lag(lag: float) -> None:
        if measuring:
            lags.append(lag)

    model = TARGET_MODELS["http"]
    targets = [
        model.model_validate({
            "name": f"bench-{i}", "type": "http", "url": f"http://127.0.0.1:{ports[i % len(ports)]}/health/{i}",
            "interval": args.interval, "timeout": min(args.interval, 5.0), "fresh_connection": args.fresh_connection,
        })
        for i in range(args.targets)
    ]
    clock = SystemClock()
    scheduler = ProbeScheduler(targets, clock=clock, sink=sink, default_interval=args.interval, lag_observer=on_lag)
    gc_pauses: list[tuple[int, float, float]] = []  # (generation, wall s, CPU s) of each collection while measuring
    gc_started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started[:] = [time.perf_counter(), time.thread_time()]
        elif gc_started and measuring:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_started[0], time.thread_time() - gc_started[1]))

    gc.callbacks.append(on_gc)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(args.warmup)  # first round: connections open, caches fill
    if args.gc_freeze:
        gc.freeze()  # the objects of the warm-up (connections, per-target state) leave the collector's scans
    measuring = True
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(args.duration)
    cpu1, wall1 = time.process_time(), time.monotonic()
    measuring = False
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await scheduler.close()
    gc.callbacks.remove(on_gc)
    n = max(counts["probes"], 1)
    return {
        "targets": args.targets,
        "interval_s": args.interval,
        "duration_s": round(wall1 - wall0, 2),
        "connection_policy": "fresh_connection" if args.fresh_connection else "keep-alive",
        "event_loop": "uvloop" if args.uvloop else "asyncio",
        "sink": sink_kind,
        "probes": counts["probes"],
        "probes_per_s": round(counts["probes"] / (wall1 - wall0), 1),
        "cpu_us_per_probe": round((cpu1 - cpu0) / n * 1e6, 1),
        "cpu_utilisation": round((cpu1 - cpu0) / (wall1 - wall0), 3),
        "lag_p50_ms": round(percentile(lags, 0.50) * 1000, 2),
        "lag_p99_ms": round(percentile(lags, 0.99) * 1000, 2),
        "lag_max_ms": round(max(lags, default=float("nan")) * 1000, 2),
        "rss_mb": round(rss_mb(), 1),
        "failures": counts["failures"],
        "failure_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:5]),
        "skipped": sum(s.skipped for s in scheduler.status()),
        "gc_freeze": args.gc_freeze,
        "gc_collections": len(gc_pauses),
        "gc_max_pause_ms": round(max((d for _, d, _ in gc_pauses), default=0.0) * 1000, 2),
        "gc_full_collections": sum(1 for g, _, _ in gc_pauses if g == 2),
        "gc_full_max_pause_ms": round(max((d for g, d, _ in gc_pauses if g == 2), default=0.0) * 1000, 2),
        "gc_full_max_cpu_ms": round(max((c for g, _, c in gc_pauses if g == 2), default=0.0) * 1000, 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", type=int, default=2000)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=None, help="seconds before measuring (default: 2 intervals)")
    p.add_argument("--fresh-connection", action="store_true", help="one connection per probe (blackbox_exporter's policy)")
    p.add_argument("--ports", type=int, default=4, help="ports the target server listens on")
    p.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after the warm-up (an experiment; the daemon does not)")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (optional dependency)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        asyncio.run(serve(args.ports))
        return 0
    if args.warmup is None:
        args.warmup = 2 * args.interval
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--ports", str(args.ports)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        if args.uvloop:
            import uvloop  # optional: pip install uvloop

            uvloop.install()
        result = asyncio.run(bench(args, ports))
    finally:
        server.kill()
        server.wait()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
