"""The dead-man's switch: `heartbeat:` in config.yaml.

Two independent signals that let someone else notice a dead host or a dead daemon:

- Pings: every `interval`, while rule evaluation completes rounds (`healthy()`, the daemon's
  `rule_loop_healthy`), request `url` (healthchecks.io / Cronitor / Dead Man's Snitch style).
  A stalled evaluation loop stops the pings exactly as a dead process would.
- The `Watchdog` alert (`watchdog_alert: true`): an always-firing alert with labels
  {alertname: Watchdog, severity: none} added to every rule round's alerts for the dispatcher,
  so a receiver that expects it continuously (e.g. PagerDuty's or Opsgenie's heartbeat
  integration) pages when it stops.

The config is read through a callable at every step, so a reload takes effect without a
restart. A failed ping is logged (scheme and host only: ping URLs carry their token in the path)
and counted; it never stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import aiohttp
from prometheus_client import Counter, Gauge

from watchdog.clock import Clock
from watchdog.model import Alert, AlertState, Labels
from watchdog.notify.webhook import redact_url

log = logging.getLogger("watchdog.notify")

IDLE_POLL = 10.0          # seconds between looks at the config while no heartbeat URL is configured
WATCHDOG_ALERTNAME = "Watchdog"
WATCHDOG_SUMMARY = ("An alert that is always firing while watchdog-daemon evaluates rules; "
                    "if it stops arriving, the daemon or its host is down.")

HEARTBEAT_PINGS = Counter("watchdog_notify_heartbeat_pings", "Heartbeat pings sent, by result (ok, failed).", ["result"])
HEARTBEAT_SKIPPED = Counter("watchdog_notify_heartbeat_skipped",
                            "Heartbeat pings withheld because rule evaluation was not completing rounds.")
HEARTBEAT_LAST_OK = Gauge("watchdog_notify_heartbeat_last_success_timestamp_seconds",
                          "Unix time of the last heartbeat ping the outside URL accepted.")


def watchdog_alert(started_at: float, external_labels: Mapping[str, str] | None = None) -> Alert:
    """The always-firing Watchdog alert; `started_at` fixed for the process so its identity and start stay put."""
    labels = {**dict(external_labels or {}), "alertname": WATCHDOG_ALERTNAME, "severity": "none"}
    return Alert(labels=Labels.of(labels), annotations={"summary": WATCHDOG_SUMMARY}, state=AlertState.FIRING,
                 active_at=started_at, value=1.0, fired_at=started_at, generator="heartbeat")


def _url_of(config: Any) -> str | None:
    if config is None:
        return None
    if config.url is not None:
        return config.url.get_secret_value()
    if config.url_file:
        try:
            return Path(config.url_file).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            log.error("heartbeat: cannot read url_file: %s", exc.strerror or type(exc).__name__)
    return None


class Heartbeat:
    """Runs the pings (`run()`) and adds the Watchdog alert (`with_watchdog_alert`)."""

    def __init__(self, config: Callable[[], Any], healthy: Callable[[], bool], *, clock: Clock,
                 external_labels: Callable[[], Mapping[str, str]] | None = None) -> None:
        self._config = config
        self._healthy = healthy
        self._clock = clock
        self._external_labels = external_labels or (lambda: {})
        self._started_at = clock.now()
        self._was_healthy = True
        self.pings_ok = 0
        self.pings_failed = 0
        self.skipped = 0

    def with_watchdog_alert(self, alerts: Sequence[Alert]) -> Sequence[Alert]:
        """`alerts` plus the Watchdog alert when `heartbeat.watchdog_alert` is on (else `alerts` unchanged)."""
        config = self._config()
        if config is None or not config.watchdog_alert:
            return alerts
        return [*alerts, watchdog_alert(self._started_at, self._external_labels())]

    async def run(self) -> None:
        """Ping while healthy, until cancelled."""
        session: aiohttp.ClientSession | None = None
        try:
            while True:
                config = self._config()
                url = _url_of(config)
                if url is None:
                    await self._clock.sleep(IDLE_POLL)
                    continue
                if self._check_health():
                    if session is None:
                        session = aiohttp.ClientSession()
                    await self.ping(session, url, config)
                await self._clock.sleep(config.interval)
        finally:
            if session is not None:
                await session.close()

    def _check_health(self) -> bool:
        healthy = bool(self._healthy())
        if healthy != self._was_healthy:
            (log.info if healthy else log.error)("heartbeat: rule evaluation %s; pings %s",
                                                 "completes rounds again" if healthy else "is stuck",
                                                 "resumed" if healthy else "withheld")
            self._was_healthy = healthy
        if not healthy:
            self.skipped += 1
            HEARTBEAT_SKIPPED.inc()
        return healthy

    async def ping(self, session: aiohttp.ClientSession, url: str, config: Any) -> bool:
        """One ping; True when the URL answered 2xx. Never raises (but lets cancellation through)."""
        where = redact_url(url)
        try:
            async with session.request(config.method, url, timeout=aiohttp.ClientTimeout(total=config.effective_timeout),
                                       allow_redirects=True) as response:
                await response.read()
                ok = 200 <= response.status < 300
                problem = f"HTTP {response.status}"
        except asyncio.TimeoutError:
            ok, problem = False, f"timed out after {config.effective_timeout:g}s"
        except aiohttp.ClientError as exc:
            ok, problem = False, type(exc).__name__
        if ok:
            self.pings_ok += 1
            HEARTBEAT_PINGS.labels("ok").inc()
            HEARTBEAT_LAST_OK.set(self._clock.now())
        else:
            self.pings_failed += 1
            HEARTBEAT_PINGS.labels("failed").inc()
            log.warning("heartbeat ping to %s failed: %s", where, problem)
        return ok
