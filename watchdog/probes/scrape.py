"""Scrape probe: fetch a Prometheus text / OpenMetrics endpoint and write its series."""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import aiohttp

from pydantic import Field, SecretStr

from watchdog.model import METRIC_NAME, Labels
from watchdog.probes.base import HttpUrlStr, ProbeResult, SeriesLabels, TargetBase, timeout_reason
from watchdog.probes.exposition import ExpositionError, parse_exposition, parse_series_key
from watchdog.probes.http import BodyTooLarge, describe_client_error, new_session, read_capped
from watchdog.probes.tls import TlsConfig, build_ssl_context

if TYPE_CHECKING:
    from watchdog.clock import Clock

ACCEPT = "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"


class ScrapeTarget(TargetBase):
    type: Literal["scrape"] = "scrape"
    url: HttpUrlStr
    honor_labels: bool = False
    max_body_bytes: int = Field(10 << 20, gt=0)
    sample_limit: int = Field(0, ge=0)  # 0: no limit
    headers: dict[str, SecretStr] = {}
    tls: TlsConfig | None = None


    @property
    def instance(self) -> str:
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{port}"


class ScrapeProbe:
    """Scrapes one target. Series keys map to cached `Labels`, so a steady target costs one dict lookup per line."""

    def __init__(self, target: ScrapeTarget, *, clock: "Clock", session: aiohttp.ClientSession | None = None) -> None:
        self.target = target
        self.clock = clock
        self._shared = session
        self._own: aiohttp.ClientSession | None = None
        self._timeout = target.effective_timeout()
        self._headers = {"Accept": ACCEPT, **{k: v.get_secret_value() for k, v in target.headers.items()}}
        self._ssl: ssl.SSLContext | bool | None = None
        labels = SeriesLabels(target)
        self._target_labels = labels.base
        self._l_up = labels("up")
        self._l_success = labels("probe_success")
        self._l_duration = labels("scrape_duration_seconds")
        self._l_probe_duration = labels("probe_duration_seconds")
        self._l_scraped = labels("scrape_samples_scraped")
        self._cache: dict[str, Labels] = {}

    def _session(self) -> aiohttp.ClientSession:
        if self._shared is not None:
            return self._shared
        if self._own is None or self._own.closed:
            self._own = new_session()
        return self._own

    def _series_labels(self, key: str) -> Labels:
        """Labels for a series key; raises ValueError for malformed labels."""
        labels = self._cache.get(key)
        if labels is not None:
            return labels
        name, pairs = parse_series_key(key)
        attached = self._target_labels
        out: dict[str, str] = {}
        if self.target.honor_labels:
            out.update(attached)
            out.update(pairs)
        else:
            # Prometheus's honor_labels=false: the target's clashing labels become exported_<name>
            for k, v in pairs:
                out[f"exported_{k}" if k in attached else k] = v
            out.update(attached)
        out[METRIC_NAME] = name
        labels = Labels(out.items())
        if len(self._cache) > 4 * max(self.target.sample_limit, 50_000):
            self._cache.clear()  # bound: a target that churns series must not grow memory forever
        self._cache[key] = labels
        return labels

    async def probe(self) -> ProbeResult:
        t = self.target
        start = self.clock.monotonic()
        reason = ""
        series: list[tuple[Labels, float]] = []
        if self._ssl is None:
            try:
                self._ssl = build_ssl_context(t.tls) or True
            except (OSError, ssl.SSLError) as e:
                return self._result(start, f"cannot load TLS settings: {e}", series)
        try:
            async with asyncio.timeout(self._timeout):
                async with self._session().get(t.url, headers=self._headers, ssl=self._ssl) as resp:
                    if resp.status != 200:
                        reason = f"status {resp.status}, expected 200"
                    body = await read_capped(resp, t.max_body_bytes)
        except TimeoutError:
            return self._result(start, timeout_reason(self._timeout), series)
        except BodyTooLarge as e:
            return self._result(start, str(e), series)
        except (aiohttp.ClientError, ssl.SSLError, OSError, ValueError) as e:
            return self._result(start, describe_client_error(e), series)
        if reason:
            return self._result(start, reason, series)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            return self._result(start, f"body is not valid UTF-8 (byte {e.start})", series)
        try:
            parsed = parse_exposition(text)
        except ExpositionError as e:
            return self._result(start, str(e), series)
        if t.sample_limit and len(parsed) > t.sample_limit:
            return self._result(start, f"sample limit exceeded ({len(parsed)} > {t.sample_limit})", series)
        seen: set[Labels] = set()
        try:
            for key, value in parsed:
                labels = self._series_labels(key)
                if labels in seen:
                    return self._result(start, f"duplicate series {key[:80]!r}", [])
                seen.add(labels)
                series.append((labels, value))
        except ValueError as e:
            return self._result(start, str(e), [])
        return self._result(start, "", series)

    def _result(self, start: float, reason: str, series: list[tuple[Labels, float]]) -> ProbeResult:
        duration = self.clock.monotonic() - start
        ok = not reason
        if not ok:
            series = []
        up = 1.0 if ok else 0.0
        series.extend(
            (
                (self._l_up, up),
                (self._l_success, up),
                (self._l_duration, duration),
                (self._l_probe_duration, duration),
                (self._l_scraped, float(len(series))),
            )
        )
        return ProbeResult(ok, duration, reason, tuple(series))

    async def close(self) -> None:
        if self._own is not None:
            await self._own.close()
            self._own = None
