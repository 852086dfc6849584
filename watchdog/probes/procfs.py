"""Reading processes from /proc (Linux). Blocking but fast; callers run scans in a thread."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    start_ticks: int  # field 22 of /proc/PID/stat: tells a restarted process from a reused pid
    cpu_seconds: float
    rss_bytes: float


def read_process(pid: int, proc: str = "/proc") -> ProcessInfo | None:
    """The process's stats, or None if it does not exist or is a zombie."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            stat = f.read().decode("utf-8", "replace")
        with open(f"{proc}/{pid}/statm", "rb") as f:
            statm = f.read().split()
    except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    utime, stime, start = int(fields[11]), int(fields[12]), int(fields[19])
    rss_pages = int(statm[1]) if len(statm) > 1 else 0
    return ProcessInfo(pid, start, (utime + stime) / CLOCK_TICKS, float(rss_pages * PAGE_SIZE))


def read_pidfile(path: str) -> int | None:
    """The pid in `path`, or None if it is missing or does not hold a pid."""
    try:
        with open(path, "rb") as f:
            text = f.read(64).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def find_processes(*, process_name: str | None = None, cmdline: re.Pattern[str] | None = None, proc: str = "/proc") -> list[int]:
    """Pids whose comm equals `process_name` or whose command line matches `cmdline`.

    Our own process is excluded (a regex in our config is in our own argv).
    """
    me = os.getpid()
    out: list[int] = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == me:
            continue
        try:
            if process_name is not None:
                with open(f"{proc}/{entry}/comm", "rb") as f:
                    if f.read().decode("utf-8", "replace").rstrip("\n") == process_name:
                        out.append(pid)
            elif cmdline is not None:
                with open(f"{proc}/{entry}/cmdline", "rb") as f:
                    raw = f.read()
                if raw and cmdline.search(raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")):
                    out.append(pid)
        except OSError:
            continue
    return out


def oldest(pids: list[int], proc: str = "/proc") -> ProcessInfo | None:
    """Of several matches, the one started first (a master, not its workers)."""
    infos = [i for i in (read_process(p, proc) for p in pids) if i is not None]
    return min(infos, key=lambda i: (i.start_ticks, i.pid)) if infos else None
