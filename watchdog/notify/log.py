"""`log_configs` (our extension): one human-readable structured log line per notice.

    [FIRING:1] DemoServiceDown (service=demo target=demo) receiver=oncall summary="..."

Logger `watchdog.notify`; the whole notice rides along in `extra={"notice": ...}`
for JSON log formatters. Label values are data: they are quoted when they
contain spaces or quotes, never interpreted.
"""

from __future__ import annotations

import logging
from typing import Any

from watchdog.clock import Clock
from watchdog.notify.base import Notice

log = logging.getLogger("watchdog.notify")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}


def _value(v: str) -> str:
    if v and all(c.isprintable() and c not in ' "=' for c in v):
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def notice_line(notice: Notice) -> str:
    """Alertmanager's default subject, then the labels that are common but not grouped on."""
    head = f"[FIRING:{len(notice.firing())}]" if notice.status == "firing" else "[RESOLVED]"
    parts = [head]
    group_values = [_value(v) for _, v in sorted(notice.group_labels.items())]
    if group_values:
        parts.append(" ".join(group_values))
    extra = {k: v for k, v in sorted(notice.common_labels.items()) if k not in notice.group_labels}
    if extra:
        parts.append("(" + " ".join(f"{k}={_value(v)}" for k, v in extra.items()) + ")")
    parts.append(f"receiver={_value(notice.receiver)}")
    if notice.status == "firing" and notice.resolved():
        parts.append(f"resolved={len(notice.resolved())}")
    summary = notice.common_annotations.get("summary")
    if summary:
        parts.append(f"summary={_value(summary)}")
    if notice.reason:
        parts.append(f"reason={_value(notice.reason)}")
    if notice.truncated:
        parts.append(f"truncated={notice.truncated}")
    return " ".join(parts)


class LogNotifier:
    integration = "log"

    def __init__(self, *, receiver: str, send_resolved: bool = True, level: str = "info") -> None:
        self.receiver = receiver
        self.send_resolved = send_resolved
        self.level = _LEVELS.get(str(level).lower(), logging.INFO)

    async def send(self, notice: Notice) -> None:
        log.log(self.level, "%s", notice_line(notice), extra={"notice": notice.to_dict(), "dedup_key": notice.dedup_key})

    async def close(self) -> None:
        return None


def log_factory(cfg: Any, *, receiver: str, clock: Clock, templates: Any = None) -> LogNotifier:
    # `templates` is unused: log lines are not templated
    return LogNotifier(
        receiver=receiver,
        send_resolved=bool(getattr(cfg, "send_resolved", True)),
        level=str(getattr(cfg, "level", "info") or "info"),
    )
