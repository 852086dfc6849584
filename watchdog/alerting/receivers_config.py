"""Alertmanager's receivers (`webhook_configs`, `slack_configs`, `email_configs`,
`pagerduty_configs`) and our extensions (`log_configs`, `alertmanager_configs`), with
Alertmanager's field names and defaults; `global:` defaults and the checks Alertmanager
makes once they are applied.

Split out of `watchdog.alerting.config` (which re-exports every name).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator

from watchdog.alerting.http_config import _STRICT, HTTPConfig, Loc, Problem, TLSConfig, _http_config_warnings, _is_http_url
from watchdog.durations import Duration

if TYPE_CHECKING:
    from watchdog.alerting.config import AlertmanagerGlobal

# Alertmanager receiver kinds we accept (so an existing Alertmanager file loads)
# but do not send yet: loading them gives a warning naming them.
UNIMPLEMENTED_RECEIVER_KINDS = (
    "opsgenie_configs", "wechat_configs",
    "pushover_configs", "victorops_configs", "sns_configs", "telegram_configs", "webex_configs",
    "discord_configs", "msteams_configs", "msteamsv2_configs", "jira_configs", "rocketchat_configs",
    "incidentio_configs",
)
# Our receiver kinds: allowed in config.yaml's `alerting:` only, never in an Alertmanager file.
EXTENSION_RECEIVER_KINDS = ("log_configs", "alertmanager_configs")


class WebhookConfig(BaseModel):
    model_config = _STRICT
    url: SecretStr | None = None
    url_file: str | None = None
    send_resolved: bool = True
    max_alerts: int = Field(default=0, ge=0)   # 0 = all alerts of the group
    http_config: HTTPConfig = Field(default_factory=HTTPConfig)
    timeout: Duration = 0.0                    # 0 = the notifier's own default bound

    @model_validator(mode="after")
    def _one_url(self) -> "WebhookConfig":
        if (self.url is None) == (self.url_file is None):
            raise ValueError("exactly one of url and url_file must be configured")
        return self

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _is_http_url(value.get_secret_value()):
            raise ValueError("must be an absolute http:// or https:// URL")  # never echo: it may hold a token
        return value


class LogConfig(BaseModel):
    """Our extension: write the notice to the daemon's log."""

    model_config = _STRICT
    send_resolved: bool = True
    level: Literal["debug", "info", "warning", "error"] = "info"


# --- typed receiver kinds (notification delivery) -----------------------------------------
# Alertmanager's names and defaults; a `*_file` sibling is read by the config loader and fills
# the secret. Message fields are templates (watchdog.notify.templates); empty means our default.


class SlackField(BaseModel):
    model_config = _STRICT
    title: str
    value: str
    short: bool | None = None


class SlackConfirm(BaseModel):
    model_config = _STRICT
    text: str
    title: str = ""
    ok_text: str = ""
    dismiss_text: str = ""


class SlackAction(BaseModel):
    model_config = _STRICT
    type: str
    text: str
    url: str = ""
    style: str = ""
    name: str = ""
    value: str = ""
    confirm: SlackConfirm | None = None


class SlackConfig(BaseModel):
    """`slack_configs`: incoming webhook (`api_url`) or bot token (`app_token`, chat.postMessage)."""

    model_config = _STRICT
    send_resolved: bool = False
    http_config: HTTPConfig = Field(default_factory=HTTPConfig)
    api_url: SecretStr | None = None
    api_url_file: str | None = None
    app_token: SecretStr | None = None          # bot token (xoxb-...): chat.postMessage / chat.update
    app_token_file: str | None = None
    app_url: str = "https://slack.com/api/chat.postMessage"
    channel: str = ""
    username: str = ""
    color: str = ""
    title: str = ""
    title_link: str = ""
    pretext: str = ""
    text: str = ""
    fields: list[SlackField] = []
    short_fields: bool = False
    footer: str = ""
    fallback: str = ""
    callback_id: str = ""
    icon_emoji: str = ""
    icon_url: str = ""
    image_url: str = ""
    thumb_url: str = ""
    link_names: bool = False
    mrkdwn_in: list[str] = []
    actions: list[SlackAction] = []
    message_text: str = ""
    update_message: bool = True                 # bot mode: on resolve, update the original message
    timeout: Duration = 0.0

    @model_validator(mode="after")
    def _one_target(self) -> "SlackConfig":
        if self.api_url is not None and self.api_url_file is not None:
            raise ValueError("at most one of api_url and api_url_file must be configured")
        if self.app_token is not None and self.app_token_file is not None:
            raise ValueError("at most one of app_token and app_token_file must be configured")
        has_app = self.app_token is not None or self.app_token_file is not None
        if has_app and not self.channel:
            raise ValueError("channel is required with app_token (bot mode posts with chat.postMessage)")
        return self

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _is_http_url(value.get_secret_value()):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @field_validator("app_url")
    @classmethod
    def _app_url(cls, value: str) -> str:
        if not _is_http_url(value):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value


class EmailConfig(BaseModel):
    """`email_configs` (Alertmanager's); unset SMTP fields take `global.smtp_*`."""

    model_config = _STRICT
    send_resolved: bool = False
    to: str = Field(min_length=1)               # comma-separated, as in Alertmanager
    from_: str | None = Field(default=None, alias="from")
    hello: str | None = None
    smarthost: str | None = None
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    auth_password_file: str | None = None
    auth_secret: SecretStr | None = None
    auth_secret_file: str | None = None
    auth_identity: str | None = None
    headers: dict[str, str] = {}
    html: str | None = None
    text: str | None = None
    require_tls: bool | None = None
    force_implicit_tls: bool | None = None
    tls_config: TLSConfig | None = None
    threading: dict[str, Any] | None = None     # Alertmanager 0.29; we always thread by group
    timeout: Duration = 0.0

    @model_validator(mode="after")
    def _one_password(self) -> "EmailConfig":
        if self.auth_password is not None and self.auth_password_file is not None:
            raise ValueError("at most one of auth_password and auth_password_file must be configured")
        return self

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^\[?[^\s\]]+\]?:[0-9]+$", value):
            raise ValueError("smarthost must be host:port")
        return value

    def recipients(self) -> list[str]:
        return [a.strip() for a in self.to.split(",") if a.strip()]


class PagerdutyImage(BaseModel):
    model_config = _STRICT
    src: str
    alt: str = ""
    href: str = ""


class PagerdutyLink(BaseModel):
    model_config = _STRICT
    href: str
    text: str = ""


class PagerdutyConfig(BaseModel):
    """`pagerduty_configs`: Events API v2 (`routing_key`); v1 `service_key` is accepted and sent as v2."""

    model_config = _STRICT
    send_resolved: bool = True
    http_config: HTTPConfig = Field(default_factory=HTTPConfig)
    routing_key: SecretStr | None = None
    routing_key_file: str | None = None
    service_key: SecretStr | None = None
    service_key_file: str | None = None
    url: str | None = None                      # default: global.pagerduty_url
    client: str = "watchdog-daemon"
    client_url: str = ""
    description: str = ""
    details: dict[str, str] = {}
    images: list[PagerdutyImage] = []
    links: list[PagerdutyLink] = []
    source: str = ""
    severity: str = ""                          # template; empty maps the `severity` label
    class_: str = Field(default="", alias="class")
    component: str = ""
    group: str = ""
    timeout: Duration = 0.0

    @model_validator(mode="after")
    def _one_key(self) -> "PagerdutyConfig":
        keys = [k for k in ("routing_key", "routing_key_file", "service_key", "service_key_file") if getattr(self, k) is not None]
        if not keys:
            raise ValueError("one of routing_key, routing_key_file, service_key and service_key_file must be configured")
        if len(keys) > 1:
            raise ValueError(f"at most one of routing_key, routing_key_file, service_key and service_key_file may be configured, got {', '.join(keys)}")
        return self

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not _is_http_url(value):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value


class AlertmanagerForwardConfig(BaseModel):
    """Our extension (`alertmanager_configs`): forward alerts to an Alertmanager cluster (POST /api/v2/alerts)."""

    model_config = _STRICT
    urls: list[str] = Field(min_length=1)       # every peer of the cluster, as Prometheus sends to each
    send_resolved: bool = True
    http_config: HTTPConfig = Field(default_factory=HTTPConfig)
    timeout: Duration = 0.0

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not _is_http_url(url):
                raise ValueError(f"{url!r} must be an absolute http:// or https:// URL")
        return value


class Receiver(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    # config.yaml's `delivery.<name>` options, attached by watchdog.notify.delivery.attach_delivery_options
    _delivery_policy: Any = PrivateAttr(default=None)
    webhook_configs: list[WebhookConfig] = []
    log_configs: list[LogConfig] = []
    slack_configs: list[SlackConfig] = []
    email_configs: list[EmailConfig] = []
    pagerduty_configs: list[PagerdutyConfig] = []
    alertmanager_configs: list[AlertmanagerForwardConfig] = []   # our extension (config.yaml only)
    # Alertmanager kinds we do not send yet: shapes kept as given (they may hold secrets: no repr).
    opsgenie_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    wechat_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    pushover_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    victorops_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    sns_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    telegram_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    webex_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    discord_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    msteams_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    msteamsv2_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    jira_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    rocketchat_configs: list[dict[str, Any]] = Field(default=[], repr=False)
    incidentio_configs: list[dict[str, Any]] = Field(default=[], repr=False)


def apply_receiver_globals(g: "AlertmanagerGlobal", receivers: list[Receiver]) -> None:
    """Alertmanager fills unset receiver fields from `global:` (smtp_*, slack_api_url, pagerduty_url).

    Secret `*_file` globals are copied as paths; the loader reads them where they land.
    """
    for receiver in receivers:
        for slack in receiver.slack_configs:
            no_target = slack.api_url is None and slack.api_url_file is None and slack.app_token is None and slack.app_token_file is None
            if no_target:
                slack.api_url, slack.api_url_file = g.slack_api_url, g.slack_api_url_file
        for mail in receiver.email_configs:
            mail.from_ = mail.from_ or g.smtp_from
            mail.hello = mail.hello or g.smtp_hello
            mail.smarthost = mail.smarthost or g.smtp_smarthost
            if mail.auth_username is None:
                mail.auth_username = g.smtp_auth_username
                if mail.auth_password is None and mail.auth_password_file is None:
                    mail.auth_password, mail.auth_password_file = g.smtp_auth_password, g.smtp_auth_password_file
            if mail.auth_identity is None:
                mail.auth_identity = g.smtp_auth_identity
            if mail.require_tls is None:
                mail.require_tls = g.smtp_require_tls
            if mail.force_implicit_tls is None:
                mail.force_implicit_tls = g.smtp_force_implicit_tls
            if mail.tls_config is None:
                mail.tls_config = g.smtp_tls_config
        for pd in receiver.pagerduty_configs:
            pd.url = pd.url or g.pagerduty_url


def receiver_problems(receiver: Receiver, loc: Loc) -> list[Problem]:
    """What Alertmanager refuses once `global:` filled the typed receivers (missing smarthost, from, Slack URL)."""
    problems: list[Problem] = []
    for j, slack in enumerate(receiver.slack_configs):
        here = loc + ("slack_configs", j)
        if slack.api_url is None and slack.api_url_file is None and slack.app_token is None and slack.app_token_file is None:
            problems.append((here, "no Slack API URL nor app token set either inline or in a file (and no global.slack_api_url)", False))
        problems += _http_config_warnings(slack.http_config, here + ("http_config",))
    for j, mail in enumerate(receiver.email_configs):
        here = loc + ("email_configs", j)
        if not mail.smarthost:
            problems.append((here, "no global SMTP smarthost set", False))
        if not mail.from_:
            problems.append((here, "no global mail from address set", False))
        if mail.threading is not None:
            problems.append((here + ("threading",), "threading is always on (one thread per alert group); the setting is ignored", True))
    for j, pd in enumerate(receiver.pagerduty_configs):
        problems += _http_config_warnings(pd.http_config, loc + ("pagerduty_configs", j, "http_config"))
    for j, am in enumerate(receiver.alertmanager_configs):
        problems += _http_config_warnings(am.http_config, loc + ("alertmanager_configs", j, "http_config"))
    return problems
