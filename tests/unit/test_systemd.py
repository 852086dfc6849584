"""sd_notify against a real AF_UNIX datagram socket opened by the test."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from watchdog import systemd


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def test_ready_sends_datagram_to_path_socket(notify_socket):
    path, sock = notify_socket
    assert systemd.ready({"NOTIFY_SOCKET": path}) is True
    assert sock.recv(4096) == b"READY=1"


def test_all_helpers_send_their_states(notify_socket):
    path, sock = notify_socket
    env = {"NOTIFY_SOCKET": path}
    systemd.stopping(env)
    assert sock.recv(4096) == b"STOPPING=1"
    systemd.watchdog_ping(env)
    assert sock.recv(4096) == b"WATCHDOG=1"
    systemd.status("loading\nconfig", env)
    assert sock.recv(4096) == b"STATUS=loading config"
    systemd.reloading(env)
    lines = sock.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=")
    assert int(lines[1].split("=", 1)[1]) > 0


def test_abstract_socket():
    name = f"watchdog-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        assert systemd.notify("READY=1", {"NOTIFY_SOCKET": "@" + name}) is True
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_unset_socket_is_noop():
    assert systemd.notify("READY=1", {}) is False
    assert systemd.notify("READY=1", {"NOTIFY_SOCKET": ""}) is False


def test_missing_socket_path_is_swallowed(tmp_path, caplog):
    assert systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "absent.sock")}) is False
    assert "sd_notify failed" in caplog.text


def test_watchdog_interval():
    assert systemd.watchdog_interval({}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    pid = str(os.getpid())
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": pid}) == 5.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "999999999"}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "junk"}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "0"}) is None
