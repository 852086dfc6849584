"""Alertmanager's `http_config` (basic auth, authorization, TLS) with its field names.

Split out of `watchdog.alerting.config` (which re-exports every name); shared by the
receivers' configs and `global.http_config`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, bool]  # (location relative to the alerting object, message, is_warning)


class BasicAuth(BaseModel):
    model_config = _STRICT
    username: str = ""
    username_file: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None

    @model_validator(mode="after")
    def _one_password(self) -> "BasicAuth":
        if self.password is not None and self.password_file is not None:
            raise ValueError("at most one of password and password_file must be configured")
        return self


class Authorization(BaseModel):
    model_config = _STRICT
    type: str = "Bearer"
    credentials: SecretStr | None = None
    credentials_file: str | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> "Authorization":
        if self.credentials is not None and self.credentials_file is not None:
            raise ValueError("at most one of credentials and credentials_file must be configured")
        if self.type.strip().lower() == "basic":
            raise ValueError("authorization type Basic is not allowed; use basic_auth")
        return self


class TLSConfig(BaseModel):
    model_config = _STRICT
    insecure_skip_verify: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] | None = None
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] | None = None

    @model_validator(mode="after")
    def _cert_and_key(self) -> "TLSConfig":
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be configured together")
        return self


# http_config keys accepted for Alertmanager compatibility that the foundation does not honour yet.
HTTP_CONFIG_IGNORED_KEYS = ("oauth2", "http_headers", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header")


class HTTPConfig(BaseModel):
    """Prometheus common `http_config`; proxy and oauth2 keys are accepted but not used yet."""

    model_config = _STRICT
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    bearer_token: SecretStr | None = None
    bearer_token_file: str | None = None
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    follow_redirects: bool = True
    enable_http2: bool = True
    http_headers: dict[str, Any] | None = Field(default=None, repr=False)
    oauth2: dict[str, Any] | None = Field(default=None, repr=False)
    proxy_url: str | None = None
    no_proxy: str | None = None
    proxy_from_environment: bool = False
    proxy_connect_header: dict[str, Any] | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _one_auth(self) -> "HTTPConfig":
        kinds = [k for k in ("basic_auth", "authorization", "oauth2") if getattr(self, k) is not None]
        if self.bearer_token is not None or self.bearer_token_file is not None:
            kinds.append("bearer_token")
        if self.bearer_token is not None and self.bearer_token_file is not None:
            raise ValueError("at most one of bearer_token and bearer_token_file must be configured")
        if len(kinds) > 1:
            raise ValueError(f"at most one of basic_auth, authorization, bearer_token and oauth2 may be configured, got {', '.join(kinds)}")
        return self


def _http_config_warnings(http: HTTPConfig, loc: Loc) -> list[Problem]:
    return [
        (loc + (key,), f"{key} is not implemented yet and is ignored", True)
        for key in HTTP_CONFIG_IGNORED_KEYS
        if key in http.model_fields_set and getattr(http, key) not in (None, False)
    ]


def _is_http_url(url: str) -> bool:
    return re.match(r"^https?://[^/\s]+", url) is not None
