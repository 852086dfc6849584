"""Integration registry: a receiver's `<kind>_configs` list -> Notifier instances.

Adding a channel (Slack, email, PagerDuty) is one module plus one line in
NOTIFIER_FACTORIES: the receiver attribute, the integration name, the factory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from watchdog.clock import Clock
from watchdog.notify.alertmanager import alertmanager_factory
from watchdog.notify.base import Notifier
from watchdog.notify.delivery import DeliveryPolicy, receiver_policy
from watchdog.notify.email import email_factory
from watchdog.notify.log import log_factory
from watchdog.notify.pagerduty import pagerduty_factory
from watchdog.notify.slack import slack_factory
from watchdog.notify.webhook import webhook_factory
from watchdog.promql.template_set import TemplateSet

log = logging.getLogger("watchdog.notify")

Factory = Callable[..., Notifier]  # (config entry, *, receiver: str, clock: Clock, templates: TemplateSet | None) -> Notifier

# receiver attribute -> (integration name, factory)
NOTIFIER_FACTORIES: dict[str, tuple[str, Factory]] = {
    "webhook_configs": ("webhook", webhook_factory),
    "log_configs": ("log", log_factory),
    "slack_configs": ("slack", slack_factory),
    "email_configs": ("email", email_factory),
    "pagerduty_configs": ("pagerduty", pagerduty_factory),
    "alertmanager_configs": ("alertmanager", alertmanager_factory),
}


@dataclass(frozen=True, slots=True)
class Integration:
    """One configured integration: receiver `oncall`, its first webhook -> key `oncall/webhook/0`."""

    receiver: str
    integration: str
    index: int
    notifier: Notifier
    policy: DeliveryPolicy = DeliveryPolicy()

    @property
    def key(self) -> str:
        return integration_key(self.receiver, self.integration, self.index)

    @property
    def send_resolved(self) -> bool:
        return bool(getattr(self.notifier, "send_resolved", True))


def integration_key(receiver: str, integration: str, index: int) -> str:
    """The notification-log and outbox identity of an integration (Alertmanager's nflog receiver)."""
    return f"{receiver}/{integration}/{index}"


def build_integrations(receiver_cfg: Any, *, clock: Clock, templates: TemplateSet | None = None) -> list[Integration]:
    """Every integration configured on one receiver, in registry order; templated fields render
    with `templates` (the loaded config's set, LoadedConfig.notification_templates; None: our defaults).

    A receiver with no configured integration is valid (Alertmanager's "null"
    receiver); its notices are only logged in the notification log.
    """
    name = receiver_cfg.name
    policy = receiver_policy(receiver_cfg)
    out: list[Integration] = []
    for attr, (integration, factory) in NOTIFIER_FACTORIES.items():
        for index, entry in enumerate(getattr(receiver_cfg, attr, None) or []):
            out.append(Integration(name, integration, index, factory(entry, receiver=name, clock=clock, templates=templates), policy))
    return out
