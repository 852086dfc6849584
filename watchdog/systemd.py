"""sd_notify without a dependency: one datagram to `$NOTIFY_SOCKET`.

systemd's protocol is a newline-separated `KEY=VALUE` datagram sent to the
AF_UNIX socket named in `$NOTIFY_SOCKET` (a path, or `@name` for the
abstract namespace). When the variable is unset (not under systemd, or
`NotifyAccess=` excludes us) every call is a no-op, so the daemon calls these
helpers unconditionally.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Mapping

log = logging.getLogger(__name__)


def _address(raw: str) -> str | bytes | None:
    if not raw:
        return None
    if raw.startswith("@"):
        # Abstract namespace: the leading "@" stands for a NUL byte.
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    # vsock and other address families are not supported; be a no-op rather than fail.
    return None


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1") to the service manager. Returns True when a datagram was sent.

    Failures are logged once per call and swallowed: a notification problem must
    never take the daemon down.
    """
    env = os.environ if environ is None else environ
    address = _address(env.get("NOTIFY_SOCKET", ""))
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)
        return False


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout in seconds when systemd expects pings from this process, else None.

    `WATCHDOG_PID`, when set, must be our pid (the variable may be inherited by a child).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / 1_000_000


def ready(environ: Mapping[str, str] | None = None) -> bool:
    return notify("READY=1", environ)


def reloading(environ: Mapping[str, str] | None = None) -> bool:
    # systemd >= 253 (Type=notify-reload) needs MONOTONIC_USEC with RELOADING=1 to match the reload.
    monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec}", environ)


def stopping(environ: Mapping[str, str] | None = None) -> bool:
    return notify("STOPPING=1", environ)


def status(text: str, environ: Mapping[str, str] | None = None) -> bool:
    # A newline would start a new KEY=VALUE assignment: keep the status on one line.
    return notify("STATUS=" + " ".join(text.splitlines()), environ)


def watchdog_ping(environ: Mapping[str, str] | None = None) -> bool:
    return notify("WATCHDOG=1", environ)
