"""Scrape probe: fetch a Prometheus text / OpenMetrics endpoint and write its series."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from watchdog.probes.base import TargetBase
from watchdog.probes.tls import TlsConfig


class ScrapeTarget(TargetBase):
    type: Literal["scrape"] = "scrape"
    url: str
    honor_labels: bool = False
    max_body_bytes: int = Field(10 << 20, gt=0)
    sample_limit: int = Field(0, ge=0)  # 0: no limit
    headers: dict[str, SecretStr] = {}
    tls: TlsConfig | None = None

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

    @property
    def instance(self) -> str:
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{port}"
