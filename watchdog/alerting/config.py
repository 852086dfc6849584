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

The receivers' models live in `receivers_config` (their `http_config` in `http_config`), the
time interval shapes in `time_intervals_config`; every name is re-exported here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Iterator

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from watchdog.alerting.matchers import Matcher, MatchType, parse_matchers
from watchdog.durations import Duration
from watchdog.alerting.http_config import (  # noqa: F401  (re-exported: the old import path keeps working)
    HTTP_CONFIG_IGNORED_KEYS, Authorization, BasicAuth, HTTPConfig, Loc, Problem, TLSConfig, _http_config_warnings,
    _is_http_url,
)
from watchdog.alerting.receivers_config import (  # noqa: F401
    EXTENSION_RECEIVER_KINDS, UNIMPLEMENTED_RECEIVER_KINDS, AlertmanagerForwardConfig, EmailConfig, LogConfig,
    PagerdutyConfig, PagerdutyImage, PagerdutyLink, Receiver, SlackAction, SlackConfig, SlackConfirm, SlackField,
    WebhookConfig, apply_receiver_globals, receiver_problems,
)
from watchdog.alerting.time_intervals_config import TimeInterval, TimeIntervalSpec, TimeRange  # noqa: F401

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


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
