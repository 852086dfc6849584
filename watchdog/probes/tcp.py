"""TCP probe: connect (optionally over TLS), optionally send, optionally expect a regex."""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from watchdog.probes.base import ProbeResult, Regex, SeriesLabels, TargetBase, timeout_reason
from watchdog.probes.tls import TlsConfig, build_ssl_context, cert_expiry

if TYPE_CHECKING:
    from watchdog.clock import Clock


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
    expect: Regex | None = None  # regex searched in what the peer sends (^ and $ match at line ends)
    tls: TlsConfig | None = None  # set (even `{}`) to connect with TLS
    max_read_bytes: int = Field(64 << 10, gt=0)

    @field_validator("address")
    @classmethod
    def _check_address(cls, v: str) -> str:
        split_host_port(v)
        return v


    @property
    def instance(self) -> str:
        return self.address


class TcpProbe:
    def __init__(self, target: TcpTarget, *, clock: "Clock", session: Any = None) -> None:
        self.target = target
        self.clock = clock
        self._host, self._port = split_host_port(target.address)
        self._timeout = target.effective_timeout()
        self._expect = re.compile(target.expect.encode("utf-8"), re.MULTILINE) if target.expect is not None else None
        labels = SeriesLabels(target)
        self._l_success = labels("probe_success")
        self._l_duration = labels("probe_duration_seconds")
        self._l_expiry = labels("probe_ssl_earliest_cert_expiry")

    def _ssl(self) -> ssl.SSLContext | None:
        tls = self.target.tls
        if tls is None:
            return None
        return build_ssl_context(tls) or ssl.create_default_context()

    async def probe(self) -> ProbeResult:
        t = self.target
        start = self.clock.monotonic()
        reason = ""
        expiry: float | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self._timeout):
                ctx = self._ssl()
                server_hostname = (t.tls.server_name or self._host) if (ctx is not None and t.tls is not None) else None
                reader, writer = await asyncio.open_connection(self._host, self._port, ssl=ctx, server_hostname=server_hostname)
                if ctx is not None:
                    expiry = cert_expiry(writer.get_extra_info("ssl_object"))
                if t.send is not None:
                    writer.write(t.send.encode("utf-8"))
                    await writer.drain()
                if self._expect is not None:
                    reason = await self._read_until_match(reader)
        except TimeoutError:
            reason = timeout_reason(self._timeout) + (" waiting for expected response" if writer is not None else "")
        except ssl.SSLCertVerificationError as e:
            reason = f"TLS certificate verification failed: {e.verify_message}"
        except ssl.SSLError as e:
            reason = f"TLS error: {e.reason or e}"
        except OSError as e:
            reason = f"connection failed: {e.strerror or e}"
        finally:
            if writer is not None:
                writer.transport.abort()  # no graceful close: a probe must not wait on the peer
        duration = self.clock.monotonic() - start
        ok = not reason
        samples = [(self._l_success, 1.0 if ok else 0.0), (self._l_duration, duration)]
        if expiry is not None:
            samples.append((self._l_expiry, expiry))
        return ProbeResult(ok, duration, reason, tuple(samples))

    async def _read_until_match(self, reader: asyncio.StreamReader) -> str:
        assert self._expect is not None
        buf = b""
        cap = self.target.max_read_bytes
        while True:
            chunk = await reader.read(4096)
            if not chunk:
                return f"connection closed before the response matched {self.target.expect!r}"
            buf += chunk
            if self._expect.search(buf):
                return ""
            if len(buf) > cap:
                return f"no match for {self.target.expect!r} in the first {cap} bytes"

    async def close(self) -> None:
        return None
