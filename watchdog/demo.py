"""`watchdog demo-service`: a small service to watch, break and heal.

    GET  /health                  200 {"status": "ok"}; 500 in mode 500; slow (1.5 s) in mode slow;
                                  never answers in mode hang (until healed)
    GET  /metrics                 demo_requests_total, demo_errors_total, demo_latency_seconds
    POST /break?mode=500|hang|slow|crash   crash exits the process (code 1) right after answering
    POST /heal                    back to healthy

`--detach --pidfile FILE` starts it in its own session (so it outlives the
shell or the remediation that started it), waits until /health answers and
returns; `--stop --pidfile FILE` stops the process named in the pidfile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from watchdog.clock import SYSTEM_CLOCK, Clock

MODES = ("ok", "500", "hang", "slow", "crash")
SLOW_SECONDS = 1.5
DETACH_READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class DemoService:
    """The demo's state and handlers; metrics live in a private registry (not the daemon's)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK, exit_process=os._exit) -> None:
        self.clock = clock
        self.mode = "ok"
        self._healed = asyncio.Event()
        self._exit_process = exit_process
        self.registry = CollectorRegistry()
        self.requests = Counter("demo_requests", "Requests served.", ["handler", "code"], registry=self.registry)
        self.errors = Counter("demo_errors", "Requests answered with an error.", registry=self.registry)
        self.latency = Histogram(
            "demo_latency_seconds",
            "Latency of /health.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4096)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_post("/break", self.break_)
        app.router.add_post("/heal", self.heal)
        return app

    async def health(self, request: web.Request) -> web.Response:
        started = self.clock.monotonic()
        if self.mode == "hang":
            # Answer nothing until healed (the client's timeout fires first).
            await self._healed.wait()
        elif self.mode == "slow":
            await self.clock.sleep(SLOW_SECONDS)
        if self.mode == "500":
            self.errors.inc()
            self.requests.labels("health", "500").inc()
            self.latency.observe(self.clock.monotonic() - started)
            return web.json_response({"status": "error", "mode": "500"}, status=500)
        self.requests.labels("health", "200").inc()
        self.latency.observe(self.clock.monotonic() - started)
        return web.json_response({"status": "ok", "mode": self.mode})

    async def metrics(self, request: web.Request) -> web.Response:
        self.requests.labels("metrics", "200").inc()
        resp = web.Response(body=generate_latest(self.registry))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def break_(self, request: web.Request) -> web.Response:
        mode = request.query.get("mode", "500")
        if mode not in MODES or mode == "ok":
            return web.json_response({"error": f"mode must be one of 500, hang, slow, crash; got {mode!r}"}, status=400)
        self.requests.labels("break", "200").inc()
        if mode == "crash":
            resp = web.json_response({"status": "crashing"})
            await resp.prepare(request)
            await resp.write_eof()
            # Give the transport a moment to flush the answer, then die as a crash would.
            asyncio.get_running_loop().call_later(0.05, self._exit_process, 1)
            return resp
        self.mode = mode
        self._healed.clear()
        return web.json_response({"status": "broken", "mode": mode})

    async def heal(self, request: web.Request) -> web.Response:
        self.requests.labels("heal", "200").inc()
        self.mode = "ok"
        self._healed.set()
        return web.json_response({"status": "ok", "mode": "ok"})


# -- process management ---------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=9798)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--pidfile", help="write our pid here (required with --detach/--stop)")
    parser.add_argument("--detach", action="store_true", help="start in the background and return once /health answers")
    parser.add_argument("--stop", action="store_true", help="stop the instance named in --pidfile")
    parser.add_argument("--log-file", help="with --detach: where the background service writes its output")


def main(args: argparse.Namespace) -> int:
    if (args.detach or args.stop) and not args.pidfile:
        print("demo-service: --detach and --stop need --pidfile", file=sys.stderr)
        return 2
    if args.stop:
        return stop(Path(args.pidfile))
    if args.detach:
        return detach(args.host, args.port, Path(args.pidfile), args.log_file)
    return asyncio.run(serve(args.host, args.port, Path(args.pidfile) if args.pidfile else None))


async def serve(host: str, port: int, pidfile: Path | None) -> int:
    service = DemoService()
    runner = web.AppRunner(service.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        print(f"demo-service: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        await runner.cleanup()
        return 1
    if pidfile is not None:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{os.getpid()}\n")
    print(f"demo-service listening on http://{host}:{port}", flush=True)
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_event.set)
    try:
        await stop_event.wait()
    finally:
        service._healed.set()  # release hung requests so shutdown is prompt
        await runner.cleanup()
        if pidfile is not None and read_pid(pidfile) == os.getpid():
            with contextlib.suppress(OSError):
                pidfile.unlink()
    return 0


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def is_demo_process(pid: int) -> bool:
    """True when `pid` is alive and is a demo service (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"watchdog.demo" in cmdline or b"demo-service" in cmdline


def _health_answers(host: str, port: int) -> bool:
    url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        with urllib.request.urlopen(f"http://{url_host}:{port}/health", timeout=1.0) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def detach(host: str, port: int, pidfile: Path, log_file: str | None) -> int:
    existing = read_pid(pidfile)
    if existing is not None and is_demo_process(existing):
        print(f"demo-service already running (pid {existing})", file=sys.stderr)
        return 0
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "watchdog.demo", "--host", host, "--port", str(port), "--pidfile", str(pidfile)]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True)
    finally:
        if log_file:
            out.close()  # type: ignore[union-attr]
    deadline = SYSTEM_CLOCK.monotonic() + DETACH_READY_TIMEOUT
    while SYSTEM_CLOCK.monotonic() < deadline:
        if child.poll() is not None:
            print(f"demo-service exited with {child.returncode} before answering", file=sys.stderr)
            return 1
        if _health_answers(host, port):
            pidfile.write_text(f"{child.pid}\n")
            print(f"demo-service started (pid {child.pid}) on http://{host}:{port}")
            return 0
        _pause(0.05)
    child.kill()
    child.wait()
    print(f"demo-service did not answer on {host}:{port} within {DETACH_READY_TIMEOUT:g}s", file=sys.stderr)
    return 1


def _pause(seconds: float) -> None:
    # Synchronous CLI polling, outside any event loop.
    import time

    time.sleep(seconds)


def stop(pidfile: Path) -> int:
    pid = read_pid(pidfile)
    if pid is None or not is_demo_process(pid):
        with contextlib.suppress(OSError):
            pidfile.unlink()
        print("demo-service not running")
        return 0
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = SYSTEM_CLOCK.monotonic() + STOP_TIMEOUT
    while SYSTEM_CLOCK.monotonic() < deadline and is_demo_process(pid) and not _is_zombie(pid):
        _pause(0.05)
    if is_demo_process(pid) and not _is_zombie(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        pidfile.unlink()
    print(f"demo-service stopped (pid {pid})")
    return 0


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


if __name__ == "__main__":
    # `python -m watchdog.demo`: what --detach starts (independent of the other subcommands' imports).
    _parser = argparse.ArgumentParser(prog="watchdog demo-service")
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
