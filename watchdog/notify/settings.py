"""Config shapes of the notification extensions in config.yaml (never inside Alertmanager objects).

- `delivery.<receiver>.breaker: {failures, reset_after}`: the receiver's circuit breaker.
- `channel_acks:` the secrets that verify acks coming from the channels (Slack's signing
  secret, PagerDuty's v3 webhook secret): inline, `*_file`, or `${VAR}` in the value.
- `heartbeat:` the dead-man's switch: ping an outside URL while rule evaluation is healthy,
  and/or keep an always-firing `Watchdog` alert going to the receivers.

Kept apart from watchdog/config/models.py (which imports them) so the notify subsystem owns
its shapes; they import nothing from the rest of the daemon.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from watchdog.durations import PositiveDuration

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)
_HTTP_URL = re.compile(r"^https?://[^/\s]+")


class BreakerOptions(BaseModel):
    """`delivery.<receiver>.breaker`: open after `failures` consecutive failed attempts, try again after `reset_after`."""

    model_config = _STRICT
    failures: int = Field(default=5, ge=1)
    reset_after: PositiveDuration = 60.0


def _secret_file(value: str | None, info: ValidationInfo) -> str | None:
    """Resolve against config.yaml's directory (the loader's `base_dir`) and check it can be read now.

    The file is read again at every use, so a rotated secret is picked up without a reload.
    """
    if value is None:
        return None
    base_dir = (info.context or {}).get("base_dir") if info is not None else None
    path = os.path.join(base_dir, value) if base_dir and not os.path.isabs(value) else value
    if not os.access(path, os.R_OK):
        raise ValueError(f"cannot read file {value!r}: {'No such file or directory' if not os.path.exists(path) else 'Permission denied'}")
    return path


def _one_of(inline: SecretStr | None, file: str | None, name: str) -> None:
    if inline is not None and file is not None:
        raise ValueError(f"at most one of {name} and {name}_file may be configured")


class ChannelAcksConfig(BaseModel):
    """`channel_acks:` secrets of the ack endpoints (/api/v1/notify/slack/actions, /api/v1/notify/pagerduty).

    `*_file` is read at every request, so a rotated secret is picked up without a reload.
    Without a secret the endpoint refuses everything (503).
    """

    model_config = _STRICT
    slack_signing_secret: SecretStr | None = None
    slack_signing_secret_file: str | None = None
    pagerduty_webhook_secret: SecretStr | None = None
    pagerduty_webhook_secret_file: str | None = None

    @field_validator("slack_signing_secret_file", "pagerduty_webhook_secret_file")
    @classmethod
    def _files(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _secret_file(value, info)

    @model_validator(mode="after")
    def _exclusive(self) -> "ChannelAcksConfig":
        _one_of(self.slack_signing_secret, self.slack_signing_secret_file, "slack_signing_secret")
        _one_of(self.pagerduty_webhook_secret, self.pagerduty_webhook_secret_file, "pagerduty_webhook_secret")
        return self


class HeartbeatConfig(BaseModel):
    """`heartbeat:` the dead-man's switch.

    `url` / `url_file` (healthchecks-style ping URLs carry their token in the path, so the URL
    is a secret) is requested every `interval` while rule evaluation completes rounds; when the
    daemon or its host dies the pings stop and the outside service pages someone.
    `watchdog_alert: true` keeps an always-firing `Watchdog` alert (severity none) in the
    dispatcher, for an outside system that pages when it stops arriving.
    """

    model_config = _STRICT
    url: SecretStr | None = None
    url_file: str | None = None
    interval: PositiveDuration = 60.0
    timeout: PositiveDuration | None = None        # default: 10s, or `interval` when that is shorter
    method: Literal["GET", "POST", "HEAD"] = "GET"
    watchdog_alert: bool = False

    @property
    def effective_timeout(self) -> float:
        return self.timeout if self.timeout is not None else min(10.0, self.interval)

    @field_validator("url_file")
    @classmethod
    def _file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _secret_file(value, info)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _HTTP_URL.match(value.get_secret_value()):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "HeartbeatConfig":
        if self.url is not None and self.url_file is not None:
            raise ValueError("at most one of url and url_file may be configured")
        if self.url is None and self.url_file is None and not self.watchdog_alert:
            raise ValueError("set url (or url_file) to ping, and/or watchdog_alert: true")
        if self.timeout is not None and self.timeout > self.interval:
            raise ValueError("timeout must not be longer than interval")
        return self
