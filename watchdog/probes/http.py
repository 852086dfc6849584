"""HTTP probe: status, body conditions, latency, TLS certificate expiry.

Connections are kept alive in a session shared by all HTTP probes (as
Prometheus scrapes do); `fresh_connection: true` opens one per probe (as
blackbox_exporter does).
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from watchdog.durations import Duration
from watchdog.durations import format_duration
from watchdog.probes.base import HttpUrlStr, ProbeResult, Regex, SeriesLabels, TargetBase, one_line_reason, timeout_reason
from watchdog.probes.jsonpath import MISSING, lookup, parse_json_path
from watchdog.probes.tls import TlsConfig, build_ssl_context, cert_expiry

if TYPE_CHECKING:
    from watchdog.clock import Clock

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASS_RE = re.compile(r"^([1-5])xx$")
_STATUS_RANGE_RE = re.compile(r"^([1-5][0-9][0-9])-([1-5][0-9][0-9])$")


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class JsonPathCheck(BaseModel):
    """`{path: "$.status", equals: "ok"}`; without equals/matches the path must exist."""

    model_config = ConfigDict(extra="forbid")

    path: str
    equals: Any = None
    matches: Regex | None = None  # regex searched in the value's string form
    exists: bool | None = None

    @field_validator("path")
    @classmethod
    def _check_path(cls, v: str) -> str:
        parse_json_path(v)  # raises ValueError with a message
        return v


    @model_validator(mode="after")
    def _one_condition(self) -> "JsonPathCheck":
        given = ("equals" in self.model_fields_set) + (self.matches is not None) + (self.exists is not None)
        if given > 1:
            raise ValueError("use only one of equals, matches, exists")
        return self


class StatusMatcher:
    """Matches status codes against entries like 200, "2xx", "200-299"."""

    __slots__ = ("codes", "ranges", "text")

    def __init__(self, spec: list[int | str]) -> None:
        self.codes: set[int] = set()
        self.ranges: list[tuple[int, int]] = []
        for item in spec:
            if isinstance(item, int):
                self.codes.add(item)
                continue
            if m := _STATUS_CLASS_RE.match(item):
                base = int(m.group(1)) * 100
                self.ranges.append((base, base + 99))
            elif m := _STATUS_RANGE_RE.match(item):
                self.ranges.append((int(m.group(1)), int(m.group(2))))
            elif item.isdigit():
                self.codes.add(int(item))
        self.text = ",".join(str(x) for x in spec)

    def __call__(self, code: int) -> bool:
        return code in self.codes or any(lo <= code <= hi for lo, hi in self.ranges)


class HttpTarget(TargetBase):
    type: Literal["http"] = "http"
    url: HttpUrlStr
    method: str = "GET"
    headers: dict[str, SecretStr] = {}  # values may be credentials: never logged
    body: str | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0)
    valid_status_codes: list[int | str] = ["2xx"]
    body_contains: list[str] = []
    body_not_contains: list[str] = []
    body_regex: list[Regex] = []
    json_path: list[JsonPathCheck] = []
    fresh_connection: bool = False
    tls: TlsConfig | None = None
    max_body_bytes: int = Field(1 << 20, gt=0)
    latency_threshold: Duration | None = None

    _as_lists = field_validator("body_contains", "body_not_contains", "body_regex", mode="before")(_as_list)


    @field_validator("method")
    @classmethod
    def _check_method(cls, v: str) -> str:
        up = v.upper()
        if up not in HTTP_METHODS:
            raise ValueError(f"must be one of {', '.join(sorted(HTTP_METHODS))}")
        return up

    @field_validator("valid_status_codes")
    @classmethod
    def _check_codes(cls, v: list[int | str]) -> list[int | str]:
        if not v:
            raise ValueError("must not be empty")
        for item in v:
            ok = (isinstance(item, int) and 100 <= item <= 599) or (
                isinstance(item, str)
                and (_STATUS_CLASS_RE.match(item) or _STATUS_RANGE_RE.match(item) or (item.isdigit() and 100 <= int(item) <= 599))
            )
            if not ok:
                raise ValueError(f"invalid status code {item!r} (use e.g. 200, \"2xx\" or \"200-299\")")
        return v


    @field_validator("latency_threshold")
    @classmethod
    def _check_latency(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("must be greater than 0")
        return v

    @property
    def instance(self) -> str:
        return self.url


class BodyTooLarge(Exception):
    def __init__(self, cap: int) -> None:
        super().__init__(f"body larger than {cap} bytes")


async def read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body, or BodyTooLarge as soon as it is known to exceed `cap` (never reads past it)."""
    length = resp.content_length
    if length is not None:
        if length > cap:
            resp.close()  # drop the connection rather than drain the body
            raise BodyTooLarge(cap)
        return await resp.read()
    chunks: list[bytes] = []
    size = 0
    content = resp.content
    while True:
        chunk = await content.readany()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > cap:
            resp.close()
            raise BodyTooLarge(cap)
        chunks.append(chunk)


def new_session() -> aiohttp.ClientSession:
    """A keep-alive session for many targets: no connection cap, timeouts come from each probe."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=60)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None), auto_decompress=True)


def describe_client_error(e: BaseException) -> str:
    """A reason for a connection-level failure; aiohttp messages name host:port, never headers."""
    if isinstance(e, aiohttp.TooManyRedirects):
        return "too many redirects"
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate verification failed: {e.certificate_error}"
    if isinstance(e, (ssl.SSLError, aiohttp.ClientSSLError)):
        return f"TLS error: {e}"
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"connection failed: {e.os_error.strerror or e.os_error}"
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    if isinstance(e, aiohttp.ClientPayloadError):
        return "invalid response body"
    if isinstance(e, aiohttp.ClientResponseError):
        return one_line_reason(f"invalid response: {e.message}")
    if isinstance(e, aiohttp.InvalidURL):
        return "invalid URL"
    return f"request failed: {type(e).__name__}: {e}"


def _peer_cert_expiry(resp: aiohttp.ClientResponse) -> float | None:
    """The leaf certificate's expiry from the response's TLS transport.

    aiohttp releases the connection as soon as a small body is fully
    buffered, so `resp.connection` is often None by now; the response keeps
    its protocol (private `_protocol`), whose transport still has the TLS object.
    """
    conn = resp.connection
    transport = conn.transport if conn is not None else None
    if transport is None:
        protocol = getattr(resp, "_protocol", None)
        transport = getattr(protocol, "transport", None)
    return cert_expiry(transport.get_extra_info("ssl_object")) if transport is not None else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class HttpProbe:
    """One HTTP target. Uses the session it is given (shared keep-alive) or opens its own."""

    def __init__(self, target: HttpTarget, *, clock: "Clock", session: aiohttp.ClientSession | None = None) -> None:
        self.target = target
        self.clock = clock
        self._shared = session
        self._own: aiohttp.ClientSession | None = None
        self._timeout = target.effective_timeout()
        self._headers = {k: v.get_secret_value() for k, v in target.headers.items()} or None
        self._data = target.body.encode() if target.body is not None else None
        self._status_ok = StatusMatcher(target.valid_status_codes)
        self._regexes = [re.compile(p) for p in target.body_regex]
        self._json_checks = [(c, parse_json_path(c.path), re.compile(c.matches) if c.matches else None) for c in target.json_path]
        self._needs_text = bool(target.body_contains or target.body_not_contains or self._regexes)
        self._is_https = target.url.startswith("https:")
        self._ssl: ssl.SSLContext | bool | None = None  # built on first use: reading ca_file is I/O
        self._ssl_error = ""
        labels = SeriesLabels(target)
        self._l_success = labels("probe_success")
        self._l_duration = labels("probe_duration_seconds")
        self._l_status = labels("probe_http_status_code")
        self._l_length = labels("probe_http_content_length")
        self._l_expiry = labels("probe_ssl_earliest_cert_expiry")

    def _ssl_param(self) -> ssl.SSLContext | bool:
        if self._ssl is None:
            try:
                self._ssl = build_ssl_context(self.target.tls) or True
            except (OSError, ssl.SSLError) as e:
                self._ssl_error = f"cannot load TLS settings: {e}"
                self._ssl = True
        return self._ssl

    async def probe(self) -> ProbeResult:
        t = self.target
        mono = self.clock.monotonic
        start = mono()
        status = 0
        length = -1.0
        expiry: float | None = None
        reason = ""
        ssl_param = self._ssl_param() if self._is_https else True
        if self._ssl_error:
            return self._result(False, mono() - start, self._ssl_error, status, length, expiry)
        try:
            session = self._session()
            async with asyncio.timeout(self._timeout):
                async with session.request(
                    t.method,
                    t.url,
                    headers=self._headers,
                    data=self._data,
                    allow_redirects=t.follow_redirects,
                    max_redirects=t.max_redirects,
                    ssl=ssl_param,
                    server_hostname=t.tls.server_name if t.tls and t.tls.server_name else None,
                ) as resp:
                    status = resp.status
                    if self._is_https:
                        expiry = _peer_cert_expiry(resp)
                    body = await read_capped(resp, t.max_body_bytes) if t.method != "HEAD" else b""
                    length = float(resp.content_length if resp.content_length is not None else len(body))
            reason = self._check(status, body)
        except TimeoutError:
            reason = timeout_reason(self._timeout)
        except BodyTooLarge as e:
            reason = str(e)
        except (aiohttp.ClientError, ssl.SSLError, OSError, ValueError) as e:
            reason = describe_client_error(e)
        duration = mono() - start
        if not reason and t.latency_threshold is not None and duration > t.latency_threshold:
            reason = f"latency {format_duration(duration)} over threshold {format_duration(t.latency_threshold)}"
        return self._result(not reason, duration, reason, status, length, expiry)

    def _result(self, ok: bool, duration: float, reason: str, status: int, length: float, expiry: float | None) -> ProbeResult:
        samples = [
            (self._l_success, 1.0 if ok else 0.0),
            (self._l_duration, duration),
            (self._l_status, float(status)),
            (self._l_length, length),
        ]
        if expiry is not None:
            samples.append((self._l_expiry, expiry))
        return ProbeResult(ok, duration, reason, tuple(samples))

    def _check(self, status: int, body: bytes) -> str:
        """"" when the response passes every configured condition, else the first failure."""
        t = self.target
        if not self._status_ok(status):
            return f"status {status} not in {self._status_ok.text}"
        if self._needs_text:
            text = body.decode("utf-8", "replace")
            for needle in t.body_contains:
                if needle not in text:
                    return f"body does not contain {_short(needle)}"
            for needle in t.body_not_contains:
                if needle in text:
                    return f"body contains {_short(needle)}"
            for rx in self._regexes:
                if not rx.search(text):
                    return f"body does not match regex {_short(rx.pattern)}"
        if self._json_checks:
            try:
                doc = json.loads(body)
            except ValueError:
                return "body is not valid JSON"
            for check, steps, rx in self._json_checks:
                value = lookup(doc, steps)
                if check.exists is False:
                    if value is not MISSING:
                        return f"{check.path} exists"
                    continue
                if value is MISSING:
                    return f"{check.path} not found"
                if "equals" in check.model_fields_set and value != check.equals:
                    return f"{check.path} is {_short(value)}, expected {_short(check.equals)}"
                if rx is not None and not rx.search(value if isinstance(value, str) else json.dumps(value)):
                    return f"{check.path} is {_short(value)}, does not match {_short(rx.pattern)}"
        return ""

    def _session(self) -> aiohttp.ClientSession:
        if self.target.fresh_connection:
            # this target's own session whose connector closes every connection after
            # its response: a new TCP (and TLS) handshake per probe, without paying for
            # a new session and connector object each time
            if self._own is None or self._own.closed:
                self._own = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(force_close=True, limit=0, ttl_dns_cache=60),
                    timeout=aiohttp.ClientTimeout(total=None),
                )
            return self._own
        if self._shared is not None:
            return self._shared
        if self._own is None or self._own.closed:
            self._own = new_session()
        return self._own

    async def close(self) -> None:
        if self._own is not None:
            await self._own.close()
            self._own = None
