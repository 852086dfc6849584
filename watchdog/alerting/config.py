"""Alertmanager's configuration schema, with Alertmanager's field names and defaults.

Used for `alerting:` in config.yaml and for an Alertmanager file named by
`alerting_file:`. Shapes are validated here; cross references (route receivers,
time interval names, our extensions being used inside an Alertmanager file)
are checked by `watchdog.alerting.config_checks`-style pure functions in
`check_alerting()` below, so every error can be located in its file.

Secrets (webhook URLs may carry tokens, passwords, credentials, API keys) are
`SecretStr`; a `*_file` sibling is read at load time by the config loader and
fills the secret field, so consumers only ever read e.g. `webhook.url`.
After loading, child routes carry their inherited values (Alertmanager's
inheritance of receiver, group_by and the three intervals), so consumers never
walk parents.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Iterator, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from watchdog.alerting.matchers import Matcher, MatchType, parse_matchers
from watchdog.durations import Duration

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

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


def _check_matcher(text: str) -> str:
    parse_matchers(text)  # a ValueError carries the reason
    return text


# One entry of a `matchers:` list (Alertmanager syntax), checked where it stands.
MatcherText = Annotated[str, AfterValidator(_check_matcher)]


def _check_regex_map(value: dict[str, str]) -> dict[str, str]:
    for name, regex in value.items():
        Matcher.create(name, MatchType.REGEX, regex)
    return value


RegexMap = Annotated[dict[str, str], AfterValidator(_check_regex_map)]


def _legacy_matchers(match: dict[str, str], match_re: dict[str, str]) -> list[Matcher]:
    out = [Matcher.create(k, MatchType.EQUAL, v) for k, v in sorted(match.items())]
    out += [Matcher.create(k, MatchType.REGEX, v) for k, v in sorted(match_re.items())]
    return out


class Route(BaseModel):
    """One node of the routing tree. Unset fields of a child route inherit from its parent."""

    model_config = _STRICT
    receiver: str | None = None
    group_by: list[str] = []
    continue_: bool = Field(default=False, alias="continue")
    matchers: list[MatcherText] = []
    match: dict[str, str] = {}
    match_re: RegexMap = {}
    group_wait: Duration = 30.0
    group_interval: Duration = 300.0
    repeat_interval: Duration = 14400.0
    mute_time_intervals: list[str] = []
    active_time_intervals: list[str] = []
    routes: list["Route"] = []
    _parsed: list[Matcher] = PrivateAttr(default_factory=list)
    _explicit: frozenset[str] = PrivateAttr(default=frozenset())

    @field_validator("group_by")
    @classmethod
    def _valid_group_by(cls, value: list[str]) -> list[str]:
        if "..." in value and len(value) > 1:
            raise ValueError("'...' (group by all labels) cannot be combined with label names")
        if len(set(value)) != len(value):
            raise ValueError("duplicate label name in group_by")
        return value

    @field_validator("group_interval", "repeat_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0s")
        return value

    @model_validator(mode="after")
    def _parse(self) -> "Route":
        self._parsed = parse_matchers(self.matchers) + _legacy_matchers(self.match, self.match_re)
        self._explicit = frozenset(self.model_fields_set)
        return self

    @property
    def explicit_fields(self) -> frozenset[str]:
        """Fields written in the file (before inheritance filled the rest)."""
        return self._explicit

    def all_matchers(self) -> list[Matcher]:
        """`matchers`, `match` and `match_re` together, parsed."""
        return list(self._parsed)

    @property
    def group_by_all(self) -> bool:
        return self.group_by == ["..."]

    def walk(self) -> Iterator[tuple[tuple[str | int, ...], "Route"]]:
        """(location relative to this route, route) for this route and every descendant, in tree order."""
        yield (), self
        for i, child in enumerate(self.routes):
            for loc, route in child.walk():
                yield ("routes", i) + loc, route


_INHERITED = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval")


def _inherit(route: Route) -> None:
    for child in route.routes:
        for name in _INHERITED:
            if name not in child.model_fields_set:
                setattr(child, name, getattr(route, name))
        _inherit(child)


class InhibitRule(BaseModel):
    model_config = _STRICT
    source_matchers: list[MatcherText] = []
    target_matchers: list[MatcherText] = []
    source_match: dict[str, str] = {}
    source_match_re: RegexMap = {}
    target_match: dict[str, str] = {}
    target_match_re: RegexMap = {}
    equal: list[str] = []

    def sources(self) -> list[Matcher]:
        return parse_matchers(self.source_matchers) + _legacy_matchers(self.source_match, self.source_match_re)

    def targets(self) -> list[Matcher]:
        return parse_matchers(self.target_matchers) + _legacy_matchers(self.target_match, self.target_match_re)


_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_HHMM = re.compile(r"^([0-9]{2}):([0-9]{2})$")


def _minutes(text: str) -> int:
    m = _HHMM.match(text)
    if not m or int(m.group(2)) > 59 or int(m.group(1)) * 60 + int(m.group(2)) > 24 * 60:
        raise ValueError(f"invalid time {text!r}: use HH:MM between 00:00 and 24:00")
    return int(m.group(1)) * 60 + int(m.group(2))


def _range_bounds(text: str, names: tuple[str, ...], lo: int, hi: int, what: str) -> tuple[int, int]:
    """Alertmanager's inclusive ranges: `monday:friday`, `1:5`, `-3:-1`, `march`, `2024`."""
    parts = text.strip().lower().split(":")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"invalid {what} range {text!r}")

    def one(p: str) -> int:
        if p in names:
            return names.index(p) + (0 if what == "weekday" else 1)
        try:
            n = int(p)
        except ValueError:
            raise ValueError(f"invalid {what} {p!r}") from None
        if not lo <= n <= hi or (what == "day of month" and n == 0):
            raise ValueError(f"{what} {n} is out of range {lo}..{hi}")
        return n

    start, end = one(parts[0]), one(parts[-1])
    if (start >= 0) == (end >= 0) and start > end:
        raise ValueError(f"{what} range {text!r} ends before it starts")
    return start, end


class TimeRange(BaseModel):
    model_config = _STRICT
    start_time: str
    end_time: str

    @model_validator(mode="after")
    def _ordered(self) -> "TimeRange":
        if _minutes(self.start_time) >= _minutes(self.end_time):
            raise ValueError("start_time must be before end_time")
        return self


class TimeIntervalSpec(BaseModel):
    """One Alertmanager time interval: every listed field must match (an absent field matches all)."""

    model_config = _STRICT
    times: list[TimeRange] = []
    weekdays: list[str] = []
    days_of_month: list[str] = []
    months: list[str] = []
    years: list[str] = []
    location: str = "UTC"

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str]) -> list[str]:
        for text in value:
            _range_bounds(text, _WEEKDAYS, 0, 6, "weekday")
        return value

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        for text in value:
            _range_bounds(text, (), -31, 31, "day of month")
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[str]) -> list[str]:
        for text in value:
            _range_bounds(text, _MONTHS, 1, 12, "month")
        return value

    @field_validator("years")
    @classmethod
    def _years(cls, value: list[str]) -> list[str]:
        for text in value:
            _range_bounds(text, (), 1, 9999, "year")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value.lower() == "local":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class TimeInterval(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    time_intervals: list[TimeIntervalSpec] = []



class AlertmanagerGlobal(BaseModel):
    """Alertmanager's `global:` section (keys of Alertmanager 0.28)."""

    model_config = _STRICT
    resolve_timeout: Duration = 300.0
    http_config: HTTPConfig = Field(default_factory=HTTPConfig)
    smtp_from: str | None = None
    smtp_hello: str = "localhost"
    smtp_smarthost: str | None = None
    smtp_auth_username: str | None = None
    smtp_auth_password: SecretStr | None = None
    smtp_auth_password_file: str | None = None
    smtp_auth_secret: SecretStr | None = None
    smtp_auth_secret_file: str | None = None
    smtp_auth_identity: str | None = None
    smtp_require_tls: bool = True
    smtp_tls_config: TLSConfig | None = None
    smtp_force_implicit_tls: bool | None = None
    slack_api_url: SecretStr | None = None
    slack_api_url_file: str | None = None
    victorops_api_key: SecretStr | None = None
    victorops_api_key_file: str | None = None
    victorops_api_url: str = "https://alert.victorops.com/integrations/generic/20131114/alert/"
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    opsgenie_api_key: SecretStr | None = None
    opsgenie_api_key_file: str | None = None
    opsgenie_api_url: str = "https://api.opsgenie.com/"
    wechat_api_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    wechat_api_secret: SecretStr | None = None
    wechat_api_secret_file: str | None = None
    wechat_api_corp_id: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    webex_api_url: str = "https://webexapis.com/v1/messages"
    rocketchat_api_url: str = "https://open.rocket.chat/"
    rocketchat_token: SecretStr | None = None
    rocketchat_token_file: str | None = None
    rocketchat_token_id: SecretStr | None = None
    rocketchat_token_id_file: str | None = None
    jira_api_url: str | None = None


class AlertingConfig(BaseModel):
    """Alertmanager's top level: global, route, receivers, inhibit_rules, time_intervals, templates."""

    model_config = _STRICT
    global_: AlertmanagerGlobal = Field(default_factory=AlertmanagerGlobal, alias="global")
    route: Route
    receivers: list[Receiver] = []
    inhibit_rules: list[InhibitRule] = []
    time_intervals: list[TimeInterval] = []
    mute_time_intervals: list[TimeInterval] = []   # Alertmanager's deprecated spelling, same shape
    templates: list[str] = []
    tracing: dict[str, Any] | None = None          # accepted, not used

    @model_validator(mode="after")
    def _inherit_route_defaults(self) -> "AlertingConfig":
        _inherit(self.route)
        return self

    @model_validator(mode="after")
    def _receiver_global_defaults(self) -> "AlertingConfig":
        apply_receiver_globals(self.global_, self.receivers)
        return self

    def receiver(self, name: str) -> Receiver | None:
        return next((r for r in self.receivers if r.name == name), None)

    def all_time_intervals(self) -> dict[str, TimeInterval]:
        return {t.name: t for t in [*self.mute_time_intervals, *self.time_intervals]}


Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, bool]  # (location relative to the alerting object, message, is_warning)


def check_alerting(am: AlertingConfig, *, policy_names: set[str] = frozenset(), extensions_allowed: bool = True) -> list[Problem]:
    """Cross-reference checks Alertmanager makes at load time, plus ours. Pure; locations are relative."""
    problems: list[Problem] = []
    known: dict[str, int] = {}
    for i, receiver in enumerate(am.receivers):
        if receiver.name in known:
            problems.append((("receivers", i, "name"), f"duplicate receiver name {receiver.name!r} (first defined at receivers[{known[receiver.name]}])", False))
        else:
            known[receiver.name] = i
        for kind in EXTENSION_RECEIVER_KINDS:
            if kind in receiver.model_fields_set:
                if not extensions_allowed:
                    problems.append((("receivers", i, kind), f"{kind} is a watchdog extension, allowed only in config.yaml's alerting section, not in an Alertmanager file", False))
        for kind in UNIMPLEMENTED_RECEIVER_KINDS:
            if getattr(receiver, kind):
                problems.append((("receivers", i, kind), f"{kind} are not implemented yet; receiver {receiver.name!r} will not send them", True))
        for j, hook in enumerate(receiver.webhook_configs):
            problems += _http_config_warnings(hook.http_config, ("receivers", i, "webhook_configs", j, "http_config"))
        problems += receiver_problems(receiver, ("receivers", i))
    for name in sorted(set(known) & set(policy_names)):
        problems.append((("receivers", known[name], "name"), f"receiver name {name!r} is also the name of an escalation policy", False))
    if am.route.receiver is None:
        problems.append((("route", "receiver"), "root route must specify a default receiver", False))
    if am.route.all_matchers():
        problems.append((("route", "matchers"), "root route must not have any matchers", False))
    if am.route.mute_time_intervals or am.route.active_time_intervals:
        problems.append((("route",), "root route must not have any mute or active time intervals", False))
    intervals = set(am.all_time_intervals())
    seen_intervals: set[str] = set()
    for key in ("mute_time_intervals", "time_intervals"):
        for i, ti in enumerate(getattr(am, key)):
            if ti.name in seen_intervals:
                problems.append(((key, i, "name"), f"duplicate time interval name {ti.name!r}", False))
            seen_intervals.add(ti.name)
    problems += _time_interval_problems(am)
    if am.templates:
        # Go template files ({{ define }}) are not interpreted yet; a field calling {{ template "x" . }}
        # fails at send time and the notice goes out with our default text (never lost).
        problems.append((("templates",), "Alertmanager template files are not loaded yet: receiver fields that call "
                         "{{ template \"NAME\" . }} fall back to the default message", True))
    for loc, route in am.route.walk():
        here = ("route",) + loc
        if route.receiver is not None and "receiver" in route.explicit_fields and route.receiver not in known and route.receiver not in policy_names:
            problems.append((here + ("receiver",), f"undefined receiver {route.receiver!r} used in route", False))
        for key in ("mute_time_intervals", "active_time_intervals"):
            for j, name in enumerate(getattr(route, key)):
                if name not in intervals:
                    problems.append((here + (key, j), f"undefined time interval {name!r} used in route", False))
    return problems


def _time_interval_problems(am: AlertingConfig) -> list[Problem]:
    """Intervals that can never match, and `times` that overlap inside one entry (a sign of a typo)."""
    from watchdog.alerting.timeintervals import overlapping_times

    problems: list[Problem] = []
    for key in ("mute_time_intervals", "time_intervals"):
        for i, ti in enumerate(getattr(am, key)):
            if not ti.time_intervals:
                problems.append(((key, i, "time_intervals"), f"time interval {ti.name!r} is empty: it would never match", False))
            for j, spec in enumerate(ti.time_intervals):
                pair = overlapping_times(spec)
                if pair is not None:
                    problems.append(((key, i, "time_intervals", j, "times", pair[1]),
                                     f"times[{pair[1]}] overlaps times[{pair[0]}]", False))
    return problems


def _http_config_warnings(http: HTTPConfig, loc: Loc) -> list[Problem]:
    return [
        (loc + (key,), f"{key} is not implemented yet and is ignored", True)
        for key in HTTP_CONFIG_IGNORED_KEYS
        if key in http.model_fields_set and getattr(http, key) not in (None, False)
    ]


def _is_http_url(url: str) -> bool:
    return re.match(r"^https?://[^/\s]+", url) is not None


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
