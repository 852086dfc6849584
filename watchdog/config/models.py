"""config.yaml: the pydantic models for every section (names pinned in CONTRACT.md).

Shapes only; cross references between sections (route receivers, escalation
policies, delivery keys, datasources) are checked in `watchdog.config.checks`
so each error is located where the operator wrote the name. Targets are
validated one by one by the loader with the model registered for their
`type` (`watchdog.probes.registry.TARGET_MODELS`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from watchdog.alerting.config import AlertingConfig
from watchdog.durations import Duration, PositiveDuration
from watchdog.notify.settings import BreakerOptions, ChannelAcksConfig, HeartbeatConfig

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")

STORAGE_URL_REFUSED = "PostgreSQL storage is not available yet; use storage.path (SQLite)"


def check_label_names(labels: dict[str, str]) -> dict[str, str]:
    for name in labels:
        if not _LABEL_NAME.match(name):
            raise ValueError(f"invalid label name {name!r}")
        if name.startswith("__"):
            raise ValueError(f"label name {name!r} is reserved (names starting with __ are internal)")
    return labels


def check_http_url(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError("must be an absolute http:// or https:// URL")
    return url


def parse_listen(value: str) -> tuple[str, int]:
    """'127.0.0.1:9797', '[::1]:9797', 'localhost:9797', ':9797' (all interfaces) -> (host, port)."""
    if not isinstance(value, str) or ":" not in value:
        raise ValueError("listen must be host:port, e.g. 127.0.0.1:9797")
    host, _, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("listen host in [...] must be an IPv6 address") from None
    elif host and not _DNS_NAME.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError("listen host must be an IP address or a host name (IPv6 in brackets: [::1]:9797)") from None
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError("listen port must be a number from 0 to 65535")
    return host, int(port_text)


class GlobalConfig(BaseModel):
    model_config = _STRICT
    scrape_interval: PositiveDuration = 10.0
    scrape_timeout: PositiveDuration = 10.0        # a target's default timeout is min(its interval, this)
    evaluation_interval: PositiveDuration = 10.0
    external_labels: dict[str, str] = {}

    @field_validator("external_labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_label_names(value)


class StorageConfig(BaseModel):
    model_config = _STRICT
    path: str = "./data/watchdog.db"       # resolved against config.yaml's directory by the loader
    retention: PositiveDuration = 30 * 86400.0
    url: SecretStr | None = None           # PostgreSQL, once that backend exists
    # the in-memory series store (what rules, detectors and the query API read)
    series_retention: Duration = 6 * 3600.0
    # per-series ring-buffer cap; 0 derives it from series_retention and the shortest interval
    max_samples_per_series: int = Field(0, ge=0)

    @field_validator("url")
    @classmethod
    def _refuse_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            raise ValueError(STORAGE_URL_REFUSED)
        return value


class ApiConfig(BaseModel):
    model_config = _STRICT
    listen: str = "127.0.0.1:9797"
    token_file: str | None = None          # bearer token for mutating calls; read at load time
    read_token_file: str | None = None     # when set, reads need this bearer token too
    external_url: str | None = None        # links in notifications point here
    _token: SecretStr | None = PrivateAttr(default=None)
    _read_token: SecretStr | None = PrivateAttr(default=None)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("external_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @property
    def host(self) -> str:
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return parse_listen(self.listen)[1]

    @property
    def token(self) -> SecretStr | None:
        """Contents of token_file (filled by the loader), or None when no token is configured."""
        return self._token

    @property
    def read_token(self) -> SecretStr | None:
        return self._read_token


class DaemonConfig(BaseModel):
    """Our daemon's own options (not in the contract's sections, so they live apart)."""

    model_config = _STRICT
    drain_timeout: Duration = 5.0          # SIGTERM: bound for finishing in-flight work
    resolved_retention: Duration = 900.0   # resolved alerts stay listed (API) this long
    # after a restart, a pending alert keeps its `for` progress if the daemon was down at most this long
    # (Prometheus's --rules.alert.for-outage-tolerance) ...
    rules_outage_tolerance: Duration = 3600.0
    # ... and never fires sooner than this after the restart (--rules.alert.for-grace-period)
    rules_for_grace_period: Duration = 600.0


class FlappingOptions(BaseModel):
    """A group that flips firing/resolved more than `max_flips` times within `window`
    is marked flapping; its notices collapse into one summary until `quiet` passes."""

    model_config = _STRICT
    enabled: bool = True
    max_flips: int = Field(4, ge=1)
    window: Duration = 600.0
    quiet: Duration = 900.0


class StormOptions(BaseModel):
    """More than `max_new_groups` new groups within `window`: one storm summary per receiver."""

    model_config = _STRICT
    enabled: bool = True
    max_new_groups: int = Field(20, ge=1)
    window: Duration = 60.0


class DampingConfig(BaseModel):
    """Our extension: notification damping (flapping and alert storms), on by default."""

    model_config = _STRICT
    flapping: FlappingOptions = Field(default_factory=FlappingOptions)
    storm: StormOptions = Field(default_factory=StormOptions)


class DatasourceConfig(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    type: Literal["prometheus"] = "prometheus"
    url: str
    timeout: PositiveDuration = 30.0
    headers: dict[str, SecretStr] = {}     # may carry credentials

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)


class RuleFileSet(BaseModel):
    """`{files: remote/*.rules.yml, datasource: prom}`: rules evaluated against a remote datasource."""

    model_config = _STRICT
    files: list[str] = Field(min_length=1)
    datasource: str | None = None

    @field_validator("files", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class EscalationLevel(BaseModel):
    model_config = _STRICT
    after: Duration = 0.0
    receivers: list[str] = Field(min_length=1)


class EscalationPolicy(BaseModel):
    """Our extension: a route's `receiver:` may name a policy; levels notify more people over time."""

    model_config = _STRICT
    name: str = Field(min_length=1)
    levels: list[EscalationLevel] = Field(min_length=1)
    repeat: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "EscalationPolicy":
        afters = [level.after for level in self.levels]
        if afters != sorted(afters):
            raise ValueError("levels must be ordered by `after`")
        return self


class RateLimit(BaseModel):
    model_config = _STRICT
    count: int = Field(ge=1)               # at most `count` messages ...
    per: PositiveDuration = 1.0            # ... per this window


class DeliveryOptions(BaseModel):
    """Our extension, per receiver: `delivery: {RECEIVER: {fallback, retry_deadline, rate_limit, breaker}}`."""

    model_config = _STRICT
    fallback: list[str] = []
    retry_deadline: Duration = 3600.0
    rate_limit: RateLimit | None = None
    breaker: BreakerOptions | None = None  # consecutive failures that open it, and how long it stays open


class PagerdutyChangeEvents(BaseModel):
    """`change_events.pagerduty`: forward recorded changes to PagerDuty Change Events."""

    model_config = _STRICT
    routing_key: SecretStr | None = None
    routing_key_file: str | None = None            # read at every send (a rotated key is picked up)
    url: str = "https://events.pagerduty.com/v2/change/enqueue"
    source: str = "watchdog-daemon"
    timeout: PositiveDuration = 10.0

    @model_validator(mode="after")
    def _one_key(self) -> "PagerdutyChangeEvents":
        if (self.routing_key is None) == (self.routing_key_file is None):
            raise ValueError("exactly one of routing_key and routing_key_file must be configured")
        return self

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)


class ChangeEventsConfig(BaseModel):
    """`change_events:` where recorded changes (deploys) are forwarded besides the timeline."""

    model_config = _STRICT
    pagerduty: PagerdutyChangeEvents | None = None


class Config(BaseModel):
    """The whole config.yaml. `targets` hold the per-type models from the probes registry."""

    model_config = _STRICT
    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    storage: StorageConfig = Field(default_factory=StorageConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    targets: list[Any] = []                # TargetBase subclasses once loaded
    datasources: list[DatasourceConfig] = []
    rule_files: list[str | RuleFileSet] = []
    detector_files: list[str] = []
    remediation_files: list[str] = []
    alerting: AlertingConfig | None = None
    alerting_file: str | None = None
    escalation_policies: list[EscalationPolicy] = []
    delivery: dict[str, DeliveryOptions] = {}
    damping: DampingConfig = Field(default_factory=DampingConfig)
    change_events: ChangeEventsConfig = Field(default_factory=ChangeEventsConfig)
    channel_acks: ChannelAcksConfig = Field(default_factory=ChannelAcksConfig)   # watchdog.notify.settings
    heartbeat: HeartbeatConfig | None = None

    def datasource(self, name: str) -> DatasourceConfig | None:
        return next((d for d in self.datasources if d.name == name), None)

    def escalation_policy(self, name: str) -> EscalationPolicy | None:
        return next((p for p in self.escalation_policies if p.name == name), None)
