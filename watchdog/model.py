"""Value types shared by every subsystem: labels, samples, alerts, events.

Plain frozen data; no I/O. Other packages exchange these and nothing richer.
"""

from __future__ import annotations

import enum
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

METRIC_NAME = "__name__"


class Labels(tuple):
    """An immutable, hashable label set: a tuple of (name, value) pairs sorted by name.

    Being a tuple keeps it cheap to hash and compare, which the series index
    and the PromQL engine do millions of times.
    """

    __slots__ = ()

    def __new__(cls, pairs: Iterable[tuple[str, str]] = ()) -> "Labels":
        return super().__new__(cls, tuple(sorted((str(k), str(v)) for k, v in pairs if v != "")))

    @classmethod
    def of(cls, mapping: Mapping[str, str] | None = None, **kw: str) -> "Labels":
        items = dict(mapping or {})
        items.update(kw)
        return cls(items.items())

    def get(self, name: str, default: str = "") -> str:
        for k, v in self:
            if k == name:
                return v
        return default

    def __contains__(self, name: object) -> bool:  # type: ignore[override]
        return any(k == name for k, _ in self)

    def names(self) -> list[str]:
        return [k for k, _ in self]

    def to_dict(self) -> dict[str, str]:
        return dict(self)

    @property
    def metric_name(self) -> str:
        return self.get(METRIC_NAME)

    def without(self, *names: str) -> "Labels":
        drop = set(names)
        return Labels((k, v) for k, v in self if k not in drop)

    def only(self, *names: str) -> "Labels":
        keep = set(names)
        return Labels((k, v) for k, v in self if k in keep)

    def without_name(self) -> "Labels":
        return self.without(METRIC_NAME)

    def merged(self, other: Mapping[str, str] | "Labels") -> "Labels":
        """`self` overridden by `other`; an empty value in `other` removes the label."""
        d = dict(self)
        for k, v in (other.items() if isinstance(other, Mapping) else other):
            if v == "":
                d.pop(k, None)
            else:
                d[k] = v
        return Labels(d.items())

    def fingerprint(self) -> str:
        """Stable 16-hex-digit hash of the label set (same across processes)."""
        h = hashlib.sha256()
        for k, v in self:
            h.update(k.encode())
            h.update(b"\xff")
            h.update(v.encode())
            h.update(b"\xfe")
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        name = self.metric_name
        rest = ", ".join(f'{k}="{v}"' for k, v in self if k != METRIC_NAME)
        return f"{name}{{{rest}}}"


@dataclass(frozen=True, slots=True)
class Sample:
    """One point of one series. `timestamp` is unix seconds."""

    labels: Labels
    value: float
    timestamp: float


# Prometheus's staleness marker is a specific NaN bit pattern; we store this
# float and test with `is_stale` (a plain NaN is a legitimate sample value).
STALE_NAN_BITS = 0x7FF0000000000002


def _stale_nan() -> float:
    import struct

    return struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


STALE_NAN = _stale_nan()


def is_stale(value: float) -> bool:
    if not math.isnan(value):
        return False
    import struct

    return struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


class AlertState(str, enum.Enum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert instance as produced by a rule (or received on /api/v2/alerts).

    `labels` include `alertname`. Times are unix seconds; `fired_at` is set
    once it fires, `resolved_at` once it resolves.
    """

    labels: Labels
    annotations: Mapping[str, str]
    state: AlertState
    active_at: float
    value: float = float("nan")
    fired_at: float | None = None
    resolved_at: float | None = None
    last_sent_at: float | None = None
    generator: str = ""  # rule identity ("file:group:alertname") or "api"
    generator_url: str = ""

    @property
    def fingerprint(self) -> str:
        return self.labels.fingerprint()

    @property
    def name(self) -> str:
        return self.labels.get("alertname")


@dataclass(frozen=True, slots=True)
class Event:
    """One entry on the append-only timeline.

    `kind` is dotted (`alert.firing`, `notification.sent`, ...; CONTRACT.md
    lists them); `data` is JSON-serialisable and may include `labels`.
    """

    time: float
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        from datetime import datetime, timezone

        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(self.time, timezone.utc).isoformat().replace("+00:00", "Z"),
            "kind": self.kind,
        }
        out.update(self.data)
        if self.id is not None:
            out["id"] = self.id
        return out
