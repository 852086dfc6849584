"""HTTP probe: status, body conditions, latency, TLS certificate expiry.

Connections are kept alive in a session shared by all HTTP probes (as
Prometheus scrapes do); `fresh_connection: true` opens one per probe (as
blackbox_exporter does).
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from watchdog.durations import Duration
from watchdog.probes.base import TargetBase
from watchdog.probes.jsonpath import parse_json_path
from watchdog.probes.tls import TlsConfig

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
    matches: str | None = None  # regex searched in the value's string form
    exists: bool | None = None

    @field_validator("path")
    @classmethod
    def _check_path(cls, v: str) -> str:
        parse_json_path(v)  # raises ValueError with a message
        return v

    @field_validator("matches")
    @classmethod
    def _check_regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"invalid regex: {e}") from None
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
    url: str
    method: str = "GET"
    headers: dict[str, SecretStr] = {}  # values may be credentials: never logged
    body: str | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0)
    valid_status_codes: list[int | str] = ["2xx"]
    body_contains: list[str] = []
    body_not_contains: list[str] = []
    body_regex: list[str] = []
    json_path: list[JsonPathCheck] = []
    fresh_connection: bool = False
    tls: TlsConfig | None = None
    max_body_bytes: int = Field(1 << 20, gt=0)
    latency_threshold: Duration | None = None

    _as_lists = field_validator("body_contains", "body_not_contains", "body_regex", mode="before")(_as_list)

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        if not parts.hostname:
            raise ValueError("URL has no host")
        try:
            parts.port
        except ValueError:
            raise ValueError("URL has an invalid port") from None
        return v

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

    @field_validator("body_regex")
    @classmethod
    def _check_regexes(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"invalid regex: {e}") from None
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
