"""sd_notify from the real daemon process to a datagram socket the test opens (as systemd would)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import pytest

from e2e_support import DaemonProcess, DemoInstance, free_port, wait_for, write_config
from watchdog.app import LOOP_STALL_SLACK, Daemon
from watchdog.config.loader import load_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


async def test_ready_watchdog_reloading_stopping(tmp_path, demo, webhook):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.setblocking(False)
    received: list[str] = []

    def drain_socket() -> list[str]:
        while True:
            try:
                received.append(sock.recv(4096).decode())
            except BlockingIOError:
                return received

    api_port = free_port()
    config = write_config(tmp_path, demo, webhook.url, api_port)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "watchdog.cli", "run", "-c", str(config)],
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env)
    daemon = DaemonProcess(proc, f"http://127.0.0.1:{api_port}", log_path)
    try:
        await wait_for("READY=1", lambda: "READY=1" in drain_socket(), 15, daemon.log)
        assert daemon.get("/readyz")[0] == 200
        # WATCHDOG_USEC=1s: pings every 0.5 s while rules evaluate (group interval 500ms).
        await wait_for("3 watchdog pings", lambda: drain_socket().count("WATCHDOG=1") >= 3, 5, daemon.log)

        proc.send_signal(signal.SIGHUP)
        await wait_for("reload notifications", lambda: any(m.startswith("RELOADING=1\nMONOTONIC_USEC=") for m in drain_socket())
                       and drain_socket().count("READY=1") >= 2, 10, daemon.log)
        reloading_at = next(i for i, m in enumerate(received) if m.startswith("RELOADING=1"))
        assert "READY=1" in received[reloading_at + 1:]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        drain_socket()
        assert "STOPPING=1" in received
        assert received.index("STOPPING=1") > reloading_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        sock.close()


async def test_watchdog_gate_follows_rule_rounds(tmp_path, fake_clock):
    """The ping gate: healthy while rounds complete, unhealthy once they stop for 2 intervals + slack."""
    unstarted_demo = DemoInstance(free_port(), tmp_path / "demo.pid")
    config = write_config(tmp_path, unstarted_demo, "http://127.0.0.1:9/hook", free_port())
    daemon = Daemon(str(config), clock=fake_clock)
    daemon._loaded = await asyncio.to_thread(load_config, str(config))  # noqa: SLF001 - the gate reads only the config
    assert daemon.rule_loop_healthy()  # start-up grace
    fake_clock.advance(2 * 0.5 + LOOP_STALL_SLACK + 0.1)
    assert not daemon.rule_loop_healthy()  # no round ever completed
    daemon._last_round_mono = fake_clock.monotonic()  # noqa: SLF001 - what _on_alerts records each round
    assert daemon.rule_loop_healthy()
    fake_clock.advance(2 * 0.5 + LOOP_STALL_SLACK - 0.1)
    assert daemon.rule_loop_healthy()
    fake_clock.advance(0.2)
    assert not daemon.rule_loop_healthy()
