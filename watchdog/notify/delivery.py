"""Per-receiver delivery policy: retry deadline, fallback receivers, rate limits, circuit breakers.

Operators set them under `delivery: {RECEIVER: {fallback, retry_deadline, rate_limit, breaker}}`
(config.yaml, our extension). `attach_delivery_options(alerting, delivery)` hangs each
receiver's options on its Receiver model, so they travel with the alerting config through
the dispatcher's `update_config` (and reloads) to `build_integrations`, which gives every
Integration its `DeliveryPolicy`.

The rate limiter and the breaker are pure: functions of `now`, no clock of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

# Channel defaults when `delivery.<receiver>.rate_limit` is unset: Slack allows about one
# message per second per channel; PagerDuty's Events API about 120 events a minute per key.
DEFAULT_RATE_LIMITS: dict[str, tuple[int, float]] = {"slack": (1, 1.0), "pagerduty": (120, 60.0)}
BREAKER_FAILURES = 5          # consecutive failed attempts that open a receiver's breaker
BREAKER_RESET = 60.0          # seconds an open breaker waits before one trial attempt
FAILING_ALERTNAME = "WatchdogNotificationsFailing"


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    fallback: tuple[str, ...] = ()
    retry_deadline: float | None = None          # None: the outbox default
    rate_limit: tuple[int, float] | None = None  # (count, per seconds); None: the channel default
    breaker_failures: int = BREAKER_FAILURES
    breaker_reset: float = BREAKER_RESET

    def rate_for(self, integration: str) -> tuple[int, float] | None:
        return self.rate_limit if self.rate_limit is not None else DEFAULT_RATE_LIMITS.get(integration)


def policy_from_options(options: Any) -> DeliveryPolicy:
    """From config's DeliveryOptions (or None)."""
    if options is None:
        return DeliveryPolicy()
    rate = getattr(options, "rate_limit", None)
    breaker = getattr(options, "breaker", None)
    return DeliveryPolicy(
        fallback=tuple(getattr(options, "fallback", ()) or ()),
        retry_deadline=float(options.retry_deadline) if getattr(options, "retry_deadline", None) is not None else None,
        rate_limit=(int(rate.count), float(rate.per)) if rate is not None else None,
        breaker_failures=int(breaker.failures) if breaker is not None else BREAKER_FAILURES,
        breaker_reset=float(breaker.reset_after) if breaker is not None else BREAKER_RESET,
    )


def attach_delivery_options(alerting: Any, delivery: Mapping[str, Any] | None) -> None:
    """Give every receiver of `alerting` its `delivery` options (call once per loaded config)."""
    if alerting is None:
        return
    for receiver in getattr(alerting, "receivers", []):
        receiver._delivery_policy = policy_from_options((delivery or {}).get(receiver.name))


def receiver_policy(receiver_cfg: Any) -> DeliveryPolicy:
    policy = getattr(receiver_cfg, "_delivery_policy", None)
    return policy if isinstance(policy, DeliveryPolicy) else DeliveryPolicy()


@dataclass(slots=True)
class TokenBucket:
    """`count` sends per `per` seconds, bursting up to `count`."""

    count: int
    per: float
    tokens: float = -1.0
    updated: float = -math.inf

    def wait(self, now: float) -> float:
        """0 and a token taken when a send may go now; otherwise seconds until one may."""
        rate = self.count / self.per
        if self.tokens < 0:
            self.tokens, self.updated = float(self.count), now
        self.tokens = min(float(self.count), self.tokens + max(0.0, now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate


@dataclass(slots=True)
class CircuitBreaker:
    """Closed -> open after `failures` consecutive failures -> one trial after `reset` -> closed on success."""

    failures: int = BREAKER_FAILURES
    reset: float = BREAKER_RESET
    consecutive: int = 0
    opened_at: float | None = None
    trial_inflight: bool = False
    last_error: str = ""

    @property
    def open(self) -> bool:
        return self.opened_at is not None

    def retry_at(self) -> float:
        return (self.opened_at or 0.0) + self.reset

    def allow(self, now: float) -> bool:
        if self.opened_at is None:
            return True
        if now >= self.retry_at() and not self.trial_inflight:
            self.trial_inflight = True
            return True
        return False

    def success(self) -> bool:
        """Record an accepted send; True when this closed an open breaker."""
        was_open = self.opened_at is not None
        self.consecutive, self.opened_at, self.trial_inflight = 0, None, False
        return was_open

    def failure(self, now: float, error: str) -> bool:
        """Record a failed send; True when this opened the breaker."""
        self.consecutive += 1
        self.last_error = error
        self.trial_inflight = False
        if self.opened_at is not None:
            self.opened_at = now            # the trial failed: wait another `reset`
            return False
        if self.consecutive >= self.failures:
            self.opened_at = now
            return True
        return False


@dataclass(slots=True)
class ChannelState:
    """What the outbox keeps per integration key."""

    breaker: CircuitBreaker
    bucket: TokenBucket | None = None


def channel_state(policy: DeliveryPolicy, integration: str) -> ChannelState:
    rate = policy.rate_for(integration)
    return ChannelState(
        breaker=CircuitBreaker(policy.breaker_failures, policy.breaker_reset),
        bucket=TokenBucket(rate[0], rate[1]) if rate else None,
    )
