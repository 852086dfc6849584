"""Flapping and alert-storm damping, as pure functions of (state, input, now).

Flapping: a group whose status (firing / resolved) changes more than
`max_flips` times within `window` is flapping; its receivers get one summary
notice, then nothing until the group has been stable (no change) for `quiet`,
after which the normal flushes tell them where things stand.

Storm: when more than `max_new_groups` groups are created within `window`,
the first notices of the new groups are replaced by one storm summary per
receiver; the groups are logged as told (so their later changes and their
resolution are told per group as usual).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlapSettings:
    enabled: bool = True
    max_flips: int = 4
    window: float = 600.0
    quiet: float = 900.0


@dataclass(frozen=True, slots=True)
class FlapState:
    flips: tuple[float, ...] = ()
    last_status: str = ""
    flapping_since: float | None = None
    summary_sent: bool = False

    @property
    def flapping(self) -> bool:
        return self.flapping_since is not None


def observe_status(settings: FlapSettings, state: FlapState, status: str, now: float) -> FlapState:
    """Record the group's current status; returns the new state (flapping starts or ends here)."""
    if not settings.enabled:
        return state
    keep_since = now - max(settings.window, settings.quiet)
    flips = tuple(t for t in state.flips if t > keep_since)
    if state.last_status and status != state.last_status:
        flips += (now,)
    since, sent = state.flapping_since, state.summary_sent
    recent = [t for t in flips if t > now - settings.window]
    if since is None and len(recent) > settings.max_flips:
        since, sent = now, False
    return FlapState(flips, status, since, sent)


def settle(settings: FlapSettings, state: FlapState, now: float) -> FlapState:
    """End flapping once the group was stable for `quiet`."""
    if state.flapping_since is None:
        return state
    last_change = max(state.flips, default=state.flapping_since)
    if now - last_change >= settings.quiet:
        return FlapState(state.flips, state.last_status, None, False)
    return state


def is_idle(settings: FlapSettings, state: FlapState, now: float) -> bool:
    """Nothing worth remembering (no flip in the window, not flapping)."""
    return state.flapping_since is None and all(t <= now - settings.window for t in state.flips)


@dataclass(frozen=True, slots=True)
class StormSettings:
    enabled: bool = True
    max_new_groups: int = 20
    window: float = 60.0


def in_storm(settings: StormSettings, created: list[float], now: float) -> bool:
    """More than max_new_groups groups created within the window ending now."""
    return settings.enabled and sum(1 for t in created if t > now - settings.window) > settings.max_new_groups
