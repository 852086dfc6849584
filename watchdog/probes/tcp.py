"""TCP probe: connect (optionally over TLS), optionally send, optionally expect a regex."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from watchdog.probes.base import TargetBase
from watchdog.probes.tls import TlsConfig


def split_host_port(address: str) -> tuple[str, int]:
    """"host:port" or "[v6]:port" -> (host, port); raises ValueError."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("must be host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    n = int(port)
    if not 0 < n < 65536:
        raise ValueError("port must be 1-65535")
    return host, n


class TcpTarget(TargetBase):
    type: Literal["tcp"] = "tcp"
    address: str
    send: str | None = None
    expect: str | None = None  # regex searched in what the peer sends
    tls: TlsConfig | None = None  # set (even `{}`) to connect with TLS
    max_read_bytes: int = Field(64 << 10, gt=0)

    @field_validator("address")
    @classmethod
    def _check_address(cls, v: str) -> str:
        split_host_port(v)
        return v

    @field_validator("expect")
    @classmethod
    def _check_expect(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"invalid regex: {e}") from None
        return v

    @property
    def instance(self) -> str:
        return self.address
