"""`webhook_configs`: POST the Alertmanager webhook JSON (version 4).

The body is exactly Alertmanager's (receiver, status, alerts, groupLabels,
commonLabels, commonAnnotations, externalURL, version, groupKey,
truncatedAlerts), so existing webhook consumers work unchanged.

Secrets (the URL itself, which often carries a token, basic-auth passwords,
bearer credentials) never appear in errors or logs: errors name only the
scheme and host.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from watchdog.clock import SYSTEM_CLOCK, Clock
from watchdog.notify.base import Notice, NoticeAlert, PermanentError, RetryableError, rfc3339

log = logging.getLogger("watchdog.notify")

DEFAULT_TIMEOUT = 10.0
RESPONSE_BODY_CAP = 4096          # bytes of the answer we read, for the error message
ERROR_BODY_CHARS = 200            # of which at most this much goes into an error
_warned_insecure: set[str] = set()
_TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1, "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


def redact_url(url: str) -> str:
    """Scheme and host only: paths and queries of webhook URLs often hold tokens."""
    try:
        u = URL(url)
        if not u.host:
            return "<invalid url>"
        port = f":{u.explicit_port}" if u.explicit_port else ""
        return f"{u.scheme}://{u.host}{port}"
    except (ValueError, TypeError):
        return "<invalid url>"


def scrub_answer(text: str, url: str, *secrets: str | None) -> str:
    """A channel's answer with every secret-bearing part of `url` (and `secrets`) cut out.

    Channels echo what they got ("no such hook /services/T/B/XXXX"), so an answer quoted in an
    error could carry the URL's token back into our logs and timeline.
    """
    fragments: set[str] = {s for s in secrets if s}
    try:
        u = URL(url)
        fragments.update(p for p in (u.raw_path, u.path, u.raw_query_string, u.query_string, u.user, u.password,
                                     u.raw_user, u.raw_password) if p and p != "/")
        fragments.update(seg for seg in u.raw_path.split("/") + u.path.split("/") if len(seg) >= 4)
        for key, value in u.query.items():
            fragments.update(x for x in (key, value) if len(x) >= 4)
    except (ValueError, TypeError):
        fragments.add(url)
    for fragment in sorted(fragments, key=len, reverse=True):
        text = text.replace(fragment, "<redacted>")
    return text


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else str(value)


def webhook_alert(a: NoticeAlert) -> dict[str, Any]:
    return {
        "status": a.status,
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "startsAt": rfc3339(a.starts_at),
        "endsAt": rfc3339(a.ends_at),
        "generatorURL": a.generator_url,
        "fingerprint": a.fingerprint,
    }


def webhook_body(notice: Notice, max_alerts: int = 0) -> dict[str, Any]:
    """Alertmanager's webhook message, version 4; `max_alerts` > 0 truncates the alert list."""
    alerts = list(notice.alerts)
    truncated = notice.truncated
    if max_alerts > 0 and len(alerts) > max_alerts:
        truncated += len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    return {
        "receiver": notice.receiver,
        "status": notice.status,
        "alerts": [webhook_alert(a) for a in alerts],
        "groupLabels": dict(notice.group_labels),
        "commonLabels": dict(notice.common_labels),
        "commonAnnotations": dict(notice.common_annotations),
        "externalURL": notice.external_url,
        "version": "4",
        "groupKey": notice.group_key,
        "truncatedAlerts": truncated,
    }


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


class WebhookNotifier:
    integration = "webhook"

    def __init__(
        self,
        *,
        receiver: str,
        url: str | None = None,
        url_file: str | Path | None = None,
        send_resolved: bool = True,
        max_alerts: int = 0,
        basic_auth: tuple[str, str] | None = None,
        authorization: tuple[str, str] | None = None,   # (type, credentials), e.g. ("Bearer", token)
        ca_file: str | Path | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        server_name: str | None = None,
        min_version: str | None = None,
        insecure_skip_verify: bool = False,
        follow_redirects: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not url and not url_file:
            raise ValueError(f"receiver {receiver!r}: webhook needs url or url_file")
        self.receiver = receiver
        self._url = url
        self._url_file = Path(url_file) if url_file else None
        self.send_resolved = send_resolved
        self.max_alerts = max_alerts
        self._basic_auth = basic_auth
        self._authorization = authorization
        self._ca_file = str(ca_file) if ca_file else None
        self._cert = (str(cert_file), str(key_file)) if cert_file and key_file else None
        self._server_name = server_name or None
        self._min_version = min_version
        self._insecure = insecure_skip_verify
        self._follow_redirects = follow_redirects
        self._timeout = timeout if timeout and timeout > 0 else DEFAULT_TIMEOUT
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        if insecure_skip_verify and receiver not in _warned_insecure:
            _warned_insecure.add(receiver)
            log.warning("receiver %s: webhook TLS certificate verification is disabled (insecure_skip_verify)", receiver)

    def __repr__(self) -> str:  # never the URL or credentials
        return f"WebhookNotifier(receiver={self.receiver!r})"

    @classmethod
    def from_config(cls, cfg: Any, *, receiver: str, clock: Clock = SYSTEM_CLOCK) -> "WebhookNotifier":
        """From the config engineer's WebhookConfig (Alertmanager's field names)."""
        http = getattr(cfg, "http_config", None)
        basic = getattr(http, "basic_auth", None) if http else None
        authz = getattr(http, "authorization", None) if http else None
        tls = getattr(http, "tls_config", None) if http else None
        basic_pair = None
        if basic is not None:
            password = _secret(getattr(basic, "password", None))
            pw_file = getattr(basic, "password_file", None)
            if password is None and pw_file:
                password = Path(pw_file).read_text().strip()
            basic_pair = (getattr(basic, "username", "") or "", password or "")
        authz_pair = None
        bearer = _secret(getattr(http, "bearer_token", None)) if http else None
        bearer_file = getattr(http, "bearer_token_file", None) if http else None
        if bearer is None and bearer_file:
            bearer = Path(bearer_file).read_text().strip()
        if bearer:
            authz_pair = ("Bearer", bearer)
        if authz is not None:
            creds = _secret(getattr(authz, "credentials", None))
            creds_file = getattr(authz, "credentials_file", None)
            if creds is None and creds_file:
                creds = Path(creds_file).read_text().strip()
            if creds:
                authz_pair = (getattr(authz, "type", None) or "Bearer", creds)
        return cls(
            receiver=receiver,
            url=_secret(getattr(cfg, "url", None)),
            url_file=getattr(cfg, "url_file", None),
            send_resolved=bool(getattr(cfg, "send_resolved", True)),
            max_alerts=int(getattr(cfg, "max_alerts", 0) or 0),
            basic_auth=basic_pair,
            authorization=authz_pair,
            ca_file=getattr(tls, "ca_file", None) if tls else None,
            cert_file=getattr(tls, "cert_file", None) if tls else None,
            key_file=getattr(tls, "key_file", None) if tls else None,
            server_name=getattr(tls, "server_name", None) if tls else None,
            min_version=getattr(tls, "min_version", None) if tls else None,
            insecure_skip_verify=bool(getattr(tls, "insecure_skip_verify", False)) if tls else False,
            follow_redirects=bool(getattr(http, "follow_redirects", True)) if http else True,
            timeout=float(getattr(cfg, "timeout", None) or DEFAULT_TIMEOUT),
            clock=clock,
        )

    def _target_url(self) -> str:
        if self._url:
            return self._url
        assert self._url_file is not None
        try:
            return self._url_file.read_text().strip()
        except OSError as e:
            # A missing file may be fixed by the operator: retry rather than drop.
            raise RetryableError(f"cannot read url_file: {e.strerror}", reason="config") from None

    def _ssl(self) -> ssl.SSLContext | bool:
        if self._insecure:
            return False
        ctx = ssl.create_default_context(cafile=self._ca_file)
        if self._cert:
            ctx.load_cert_chain(*self._cert)
        if self._min_version:
            ctx.minimum_version = _TLS_VERSIONS[self._min_version]
        return ctx

    def _known_secrets(self) -> tuple[str | None, ...]:
        password = self._basic_auth[1] if self._basic_auth else None
        creds = self._authorization[1] if self._authorization else None
        return (password, creds)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "watchdog-daemon"}
        if self._basic_auth:
            user, password = self._basic_auth
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        elif self._authorization:
            kind, creds = self._authorization
            headers["Authorization"] = f"{kind} {creds}"
        return headers

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl()))
        return self._session

    async def send(self, notice: Notice) -> None:
        url = self._target_url()
        where = redact_url(url)
        body = json.dumps(webhook_body(notice, self.max_alerts)).encode()
        try:
            session = await self._get_session()
            async with session.post(
                url,
                data=body,
                headers=self._headers(),
                allow_redirects=self._follow_redirects,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                server_hostname=self._server_name,
            ) as resp:
                answer = await resp.content.read(RESPONSE_BODY_CAP)
                status = resp.status
                retry_after_header = resp.headers.get("Retry-After")
        except asyncio.TimeoutError:
            raise RetryableError(f"webhook {where}: no answer within {self._timeout:g}s", reason="timeout") from None
        except aiohttp.InvalidURL:
            raise PermanentError("webhook: invalid URL", reason="config") from None
        except aiohttp.ClientError as e:
            # The exception text may repeat the full URL; report only its kind.
            raise RetryableError(f"webhook {where}: {type(e).__name__}", reason="network") from None
        except OSError as e:
            raise RetryableError(f"webhook {where}: {e.strerror or type(e).__name__}", reason="network") from None
        if 200 <= status < 300:
            return
        snippet = scrub_answer(answer[:ERROR_BODY_CHARS].decode("utf-8", "replace").strip(), url, *self._known_secrets())
        message = f"webhook {where} answered {status}" + (f": {snippet}" if snippet else "")
        if status == 429:
            retry_after = parse_retry_after(retry_after_header, self._clock.now())
            raise RetryableError(message, retry_after, reason="rate_limited")
        if status >= 500:
            raise RetryableError(message, reason="server_error")
        raise PermanentError(message, reason="client_error")

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def webhook_factory(cfg: Any, *, receiver: str, clock: Clock, templates: Any = None) -> WebhookNotifier:
    # `templates` is unused: the webhook body is Alertmanager's JSON, nothing in it is templated
    return WebhookNotifier.from_config(cfg, receiver=receiver, clock=clock)


__all__ = ["WebhookNotifier", "webhook_body", "redact_url", "parse_retry_after", "webhook_factory"]
