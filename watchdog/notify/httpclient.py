"""Shared HTTP plumbing for the JSON notifiers (PagerDuty, Alertmanager forwarding).

One aiohttp session per notifier, TLS from the receiver's `http_config`
(verification on unless `insecure_skip_verify`, which is logged once), bounded
answers, and one place that turns an HTTP answer into "accepted", a
RetryableError (429 with Retry-After, 5xx, network, timeout) or a
PermanentError (other 4xx). Errors name scheme and host only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import aiohttp

from watchdog.clock import Clock
from watchdog.notify.base import PermanentError, RetryableError
from watchdog.notify.webhook import ERROR_BODY_CHARS, RESPONSE_BODY_CAP, _TLS_VERSIONS, parse_retry_after, redact_url, scrub_answer

log = logging.getLogger("watchdog.notify")

DEFAULT_TIMEOUT = 10.0
_warned_insecure: set[str] = set()


def secret_text(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else str(value)


def _file_text(path: str | None) -> str | None:
    return Path(path).read_text().strip() if path else None


def ssl_context(tls: Any, *, owner: str) -> ssl.SSLContext | bool:
    """An SSL context from a TLSConfig (or None: system defaults); False when verification is off."""
    if tls is not None and getattr(tls, "insecure_skip_verify", False):
        if owner not in _warned_insecure:
            _warned_insecure.add(owner)
            log.warning("%s: TLS certificate verification is disabled (insecure_skip_verify)", owner)
        return False
    ctx = ssl.create_default_context(cafile=getattr(tls, "ca_file", None) if tls is not None else None)
    if tls is not None and getattr(tls, "cert_file", None) and getattr(tls, "key_file", None):
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls is not None and getattr(tls, "min_version", None):
        ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    return ctx


def auth_header(http: Any) -> str | None:
    """The Authorization header from an HTTPConfig (basic, authorization, bearer_token), or None."""
    if http is None:
        return None
    basic = getattr(http, "basic_auth", None)
    if basic is not None:
        password = secret_text(basic.password) or _file_text(basic.password_file) or ""
        return "Basic " + base64.b64encode(f"{basic.username}:{password}".encode()).decode("ascii")
    authz = getattr(http, "authorization", None)
    if authz is not None:
        creds = secret_text(authz.credentials) or _file_text(authz.credentials_file)
        if creds:
            return f"{authz.type or 'Bearer'} {creds}"
    bearer = secret_text(getattr(http, "bearer_token", None)) or _file_text(getattr(http, "bearer_token_file", None))
    return f"Bearer {bearer}" if bearer else None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8", "replace"))
        except ValueError:
            return None


class JsonPoster:
    """POSTs JSON with one reused session; `post()` returns the answer or raises RetryableError."""

    def __init__(self, *, owner: str, http: Any = None, timeout: float = DEFAULT_TIMEOUT, clock: Clock) -> None:
        self._owner = owner
        self._tls = getattr(http, "tls_config", None) if http is not None else None
        self._auth = auth_header(http)
        self._follow = bool(getattr(http, "follow_redirects", True)) if http is not None else True
        self._server_name = getattr(self._tls, "server_name", None) or None
        self._timeout = timeout if timeout and timeout > 0 else DEFAULT_TIMEOUT
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: Any, *, what: str, headers: Mapping[str, str] | None = None) -> Answer:
        where = redact_url(url)
        hdrs = {"Content-Type": "application/json", "User-Agent": "watchdog-daemon", **(headers or {})}
        if self._auth:
            hdrs["Authorization"] = self._auth
        try:
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context(self._tls, owner=self._owner)))
            async with self._session.post(url, data=json.dumps(body).encode(), headers=hdrs, allow_redirects=self._follow,
                                          timeout=aiohttp.ClientTimeout(total=self._timeout),
                                          server_hostname=self._server_name) as resp:
                return Answer(resp.status, await resp.content.read(RESPONSE_BODY_CAP), dict(resp.headers))
        except asyncio.TimeoutError:
            raise RetryableError(f"{what} {where}: no answer within {self._timeout:g}s", reason="timeout") from None
        except aiohttp.InvalidURL:
            raise PermanentError(f"{what}: invalid URL", reason="config") from None
        except aiohttp.ClientError as e:
            raise RetryableError(f"{what} {where}: {type(e).__name__}", reason="network") from None
        except OSError as e:
            raise RetryableError(f"{what} {where}: {e.strerror or type(e).__name__}", reason="network") from None

    def raise_for(self, answer: Answer, url: str, what: str) -> None:
        """Nothing for 2xx; otherwise the error the pipeline expects."""
        if 200 <= answer.status < 300:
            return
        snippet = scrub_answer(answer.body[:ERROR_BODY_CHARS].decode("utf-8", "replace").strip(), url, self._auth)
        message = f"{what} {redact_url(url)} answered {answer.status}" + (f": {snippet}" if snippet else "")
        if answer.status == 429:
            raise RetryableError(message, parse_retry_after(answer.headers.get("Retry-After"), self._clock.now()), reason="rate_limited")
        if answer.status >= 500:
            raise RetryableError(message, reason="server_error")
        raise PermanentError(message, reason="client_error")

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
