"""Rules evaluated through a remote Prometheus-compatible query API (Prometheus, Thanos, Mimir, VictoriaMetrics).

A rule file bound to a datasource in config.yaml (`rule_files: [{files: ...,
datasource: prom}]`) has its expressions sent to `<url>/api/v1/query`
instead of our engine. `PrometheusDatasource.vector(expr, t)` is the async
twin of `Engine.vector`: the answer's vector (or scalar) as Samples. Every
failure (connection, timeout, HTTP status, an `"status": "error"` answer, a
body that is not the API's JSON, a result of the wrong type) raises
`RemoteQueryError` with a message that names the datasource and never
includes header values (they may hold credentials); the rule manager records
it as the rule's health.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Mapping

import aiohttp

from watchdog.model import Labels, Sample

MAX_RESPONSE_BYTES = 64 << 20   # a rule result larger than this is a mistake, not data


class RemoteQueryError(Exception):
    """The remote datasource could not answer the query."""


def _secret_value(v: Any) -> str:
    get = getattr(v, "get_secret_value", None)
    return get() if get is not None else str(v)


class PrometheusDatasource:
    def __init__(
        self, name: str, url: str, *, timeout: float = 30.0, headers: Mapping[str, Any] | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self._headers = {k: _secret_value(v) for k, v in (headers or {}).items()}
        self.max_response_bytes = int(max_response_bytes)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_config(cls, config: Any) -> "PrometheusDatasource":
        """From a `datasources:` entry (watchdog.config.models.DatasourceConfig)."""
        return cls(config.name, config.url, timeout=config.timeout, headers=dict(config.headers))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def vector(self, expr: str, t: float) -> list[Sample]:
        """Instant query at `t`; a scalar answer becomes one sample without labels."""
        data = await self._query(expr, t)
        kind, result = data.get("resultType"), data.get("result")
        try:
            if kind == "vector":
                return [Sample(Labels.of(item["metric"]), _number(item["value"][1]), t) for item in result]
            if kind == "scalar":
                return [Sample(Labels(), _number(result[1]), t)]
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise RemoteQueryError(f"datasource {self.name}: malformed {kind} result: {type(e).__name__}: {e}") from None
        raise RemoteQueryError(f"datasource {self.name}: expression must give an instant vector or scalar, got {kind}")

    async def _query(self, expr: str, t: float) -> dict:
        form = {"query": expr, "time": f"{t:.3f}"}
        try:
            async with self._client().post(f"{self.url}/api/v1/query", data=form, headers=self._headers) as resp:
                body = await resp.content.read(self.max_response_bytes + 1)
                status = resp.status
        except asyncio.TimeoutError:
            raise RemoteQueryError(f"datasource {self.name}: query timed out after {self.timeout:g}s") from None
        except aiohttp.ClientError as e:
            raise RemoteQueryError(f"datasource {self.name}: {type(e).__name__}: {e}") from None
        if len(body) > self.max_response_bytes:
            raise RemoteQueryError(f"datasource {self.name}: answer larger than {self.max_response_bytes} bytes")
        try:
            doc = json.loads(body)
        except ValueError:
            raise RemoteQueryError(f"datasource {self.name}: HTTP {status}, not a query API answer") from None
        if not isinstance(doc, dict):
            raise RemoteQueryError(f"datasource {self.name}: HTTP {status}, not a query API answer")
        if doc.get("status") != "success":
            kind = doc.get("errorType", "error")
            raise RemoteQueryError(f"datasource {self.name}: {kind}: {doc.get('error', f'HTTP {status}')}")
        data = doc.get("data")
        if not isinstance(data, dict):
            raise RemoteQueryError(f"datasource {self.name}: answer without data")
        return data


def _number(text: Any) -> float:
    """The API's sample values are strings: "1.5", "NaN", "+Inf", "-Inf"."""
    if isinstance(text, str):
        low = text.lower()
        if low in ("+inf", "inf"):
            return math.inf
        if low == "-inf":
            return -math.inf
    return float(text)
