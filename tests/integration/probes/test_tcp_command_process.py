"""TcpProbe against real TCP servers, CommandProbe against real subprocesses, ProcessProbe against a real child."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from watchdog.probes.command import CommandProbe
from watchdog.probes.process import ProcessProbe
from watchdog.probes.registry import TARGET_MODELS
from watchdog.probes.tcp import TcpProbe


def model(kind: str, **kw):
    return TARGET_MODELS[kind].model_validate({"name": "t", "type": kind, "timeout": "2s", **kw})


def series(result) -> dict[str, float]:
    return {labels.metric_name + (f"[{labels.get('perf')}]" if labels.get("perf") else ""): v for labels, v in result.samples}


# ---------------------------------------------------------------- tcp
@pytest.fixture
async def tcp_server():
    servers = []
    handlers: set[asyncio.Task] = set()

    async def start(handler) -> str:
        async def tracked(reader, writer):
            handlers.add(asyncio.current_task())
            try:
                await handler(reader, writer)
            finally:
                writer.transport.abort()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        servers.append(server)
        return f"127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    for s in servers:
        s.close()
        await s.wait_closed()


async def test_tcp_connect_send_expect(clock, tcp_server):
    async def smtpish(reader, writer):
        writer.write(b"220 ready\r\n")
        line = await reader.readline()
        writer.write(b"250 hello " + line.strip() + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    addr = await tcp_server(smtpish)
    r = await TcpProbe(model("tcp", address=addr, send="EHLO probe\r\n", expect=r"^250 hello EHLO", labels={"svc": "mail"}), clock=clock).probe()
    assert r.success, r.reason
    assert series(r)["probe_success"] == 1 and r.samples[0][0].get("instance") == addr and r.samples[0][0].get("svc") == "mail"
    r = await TcpProbe(model("tcp", address=addr, expect="^500", timeout="300ms"), clock=clock).probe()
    assert not r.success and r.reason == "timeout after 300ms waiting for expected response"


async def test_tcp_connection_refused_and_closed_early(clock, tcp_server):
    r = await TcpProbe(model("tcp", address="127.0.0.1:1"), clock=clock).probe()
    assert not r.success and r.reason.startswith("connection failed")

    async def closer(reader, writer):
        writer.write(b"bye")
        writer.close()

    addr = await tcp_server(closer)
    r = await TcpProbe(model("tcp", address=addr, expect="hello"), clock=clock).probe()
    assert not r.success and r.reason == "connection closed before the response matched 'hello'"


# ---------------------------------------------------------------- command
def script(tmp_path: Path, name: str, body: str) -> str:
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)
    return str(p)


@pytest.mark.parametrize(
    "body, status, reason",
    [
        ("echo 'OK - all good | t=5ms;1;2 '\"'\"'disk used'\"'\"'=2KB'\nexit 0\n", 0, ""),
        ("echo 'WARNING - load 5'\nexit 1\n", 1, "WARNING - load 5"),
        ("echo 'CRITICAL - down'\nexit 2\n", 2, "CRITICAL - down"),
        ("echo 'UNKNOWN - huh'\nexit 3\n", 3, "UNKNOWN - huh"),
        ("echo 'odd'\nexit 7\n", 3, "exit status 7 (UNKNOWN): odd"),
        ("exit 2\n", 2, "exit status 2 (CRITICAL)"),
        ("kill -9 $$\n", 3, "killed by signal 9"),
    ],
)
async def test_command_nagios_exit_codes(clock, tmp_path, body, status, reason):
    r = await CommandProbe(model("command", argv=[script(tmp_path, "check.sh", body)]), clock=clock).probe()
    s = series(r)
    assert (r.success, s["probe_command_status"], r.reason) == (status == 0, status, reason)
    assert s["probe_success"] == (1.0 if status == 0 else 0.0)
    if status == 0:
        assert s["probe_command_perfdata[t]"] == pytest.approx(0.005) and s["probe_command_perfdata[disk used]"] == 2048
        labels = next(lbl for lbl, _ in r.samples if lbl.get("perf") == "t")
        assert labels.to_dict() == {"__name__": "probe_command_perfdata", "perf": "t", "target": "t", "job": "t", "instance": "t"}


async def test_command_args_are_never_a_shell(clock, tmp_path):
    marker = tmp_path / "pwned"
    argv = [script(tmp_path, "args.sh", 'echo "OK - $1"\n'), f"x; touch {marker}"]
    r = await CommandProbe(model("command", argv=argv), clock=clock).probe()
    assert r.success and not marker.exists()


async def test_command_env_is_an_allow_list(clock, tmp_path, monkeypatch):
    monkeypatch.setenv("WD_TEST_SECRET", "hidden")
    monkeypatch.setenv("WD_TEST_OK", "shown")
    argv = [script(tmp_path, "env.sh", 'if [ -n "$WD_TEST_SECRET" ]; then echo "CRITICAL leaked"; exit 2; fi\necho "OK $WD_TEST_OK"\n')]
    r = await CommandProbe(model("command", argv=argv, env=["PATH", "WD_TEST_OK"]), clock=clock).probe()
    assert r.success, r.reason


async def test_command_timeout_kills_the_process_group_including_grandchild(clock, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    body = f"sleep 60 &\necho $! > {pidfile}\nsleep 60\n"
    t0 = time.monotonic()
    r = await CommandProbe(model("command", argv=[script(tmp_path, "hang.sh", body)], timeout="500ms"), clock=clock).probe()
    assert not r.success and r.reason == "timeout after 500ms" and series(r)["probe_command_status"] == 3
    assert time.monotonic() - t0 < 3
    grandchild = int(pidfile.read_text())
    for _ in range(50):  # the kill is delivered; init reaps the orphan shortly after
        try:
            os.kill(grandchild, 0)
            state = Path(f"/proc/{grandchild}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
        except (ProcessLookupError, FileNotFoundError):
            break
        await asyncio.sleep(0.05)
    else:
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("grandchild survived the timeout")


async def test_command_output_flood_is_capped(clock, tmp_path):
    t0 = time.monotonic()
    r = await CommandProbe(model("command", argv=["yes", "flood"], max_output_bytes=4096, timeout="5s"), clock=clock).probe()
    assert not r.success and r.reason == "output larger than 4096 bytes"
    assert time.monotonic() - t0 < 3


async def test_command_missing_executable(clock, tmp_path):
    r = await CommandProbe(model("command", argv=[str(tmp_path / "nope")]), clock=clock).probe()
    assert not r.success and r.reason.startswith(f"cannot run {tmp_path / 'nope'}: ")


# ---------------------------------------------------------------- process
def spawn(tag: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", tag])


async def test_process_by_pidfile_and_restart_counted(clock, tmp_path):
    pidfile = tmp_path / "svc.pid"
    child = spawn("wd-proc-a")
    try:
        pidfile.write_text(f"{child.pid}\n")
        probe = ProcessProbe(model("process", pidfile=str(pidfile)), clock=clock)
        r = await probe.probe()
        s = series(r)
        assert r.success and s["process_up"] == 1 and s["process_restarts_total"] == 0
        assert s["process_resident_memory_bytes"] > 0 and s["process_cpu_seconds_total"] >= 0
        child.kill()
        child.wait()
        r = await probe.probe()
        assert not r.success and series(r)["process_up"] == 0 and r.reason == f"process {child.pid} from {pidfile} is not running"
        child = spawn("wd-proc-a")
        pidfile.write_text(f"{child.pid}\n")
        r = await probe.probe()
        assert r.success and series(r)["process_restarts_total"] == 1
        r = await probe.probe()
        assert series(r)["process_restarts_total"] == 1
    finally:
        child.kill()
        child.wait()
    pidfile.unlink()
    r = await probe.probe()
    assert r.reason == f"pidfile {pidfile} missing or empty"


async def test_process_by_cmdline_and_name(clock):
    tag = f"wd-proc-{os.getpid()}-{time.monotonic_ns()}"
    child = spawn(tag)
    try:
        probe = ProcessProbe(model("process", cmdline=f"time.sleep.* {tag}$"), clock=clock)
        r = await probe.probe()
        assert r.success, r.reason
        r = await ProcessProbe(model("process", process_name="no-such-proc-xyz"), clock=clock).probe()
        assert not r.success and r.reason == "no process named 'no-such-proc-xyz'"
        comm = Path(f"/proc/{child.pid}/comm").read_text().strip()
        r = await ProcessProbe(model("process", process_name=comm), clock=clock).probe()
        assert r.success
    finally:
        child.kill()
        child.wait()
    r = await probe.probe()
    assert not r.success and series(r)["process_up"] == 0
