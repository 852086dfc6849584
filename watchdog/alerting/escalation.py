"""Escalation policies (our extension) and acknowledgements, as pure functions.

A route's `receiver:` may name a policy: ordered levels, each `after` some
time since the group's first notice, naming receivers. Reaching a level
notifies its receivers at once; receivers of earlier levels keep getting the
group's updates and its resolution. With `repeat: true` the policy starts
again from its first level one cycle later; the cycle is the last level's
`after` plus the gap before it (or the route's repeat_interval when that is 0).

An acknowledgement pauses the clock: no further level, no policy repeat, no
repeat_interval resend, until it is removed, expires, or the group resolves.
After an un-ack, escalation resumes where it stopped (the paused time does
not count).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence


@dataclass(frozen=True, slots=True)
class Level:
    after: float
    receivers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    levels: tuple[Level, ...]
    repeat: bool = False

    @classmethod
    def from_config(cls, p: Any) -> "Policy":
        return cls(p.name, tuple(Level(float(lv.after), tuple(lv.receivers)) for lv in p.levels), bool(p.repeat))

    def cycle(self, repeat_interval: float) -> float:
        last = self.levels[-1].after
        gap = last - self.levels[-2].after if len(self.levels) > 1 else last
        return last + (gap if gap > 0 else repeat_interval)


@dataclass(frozen=True, slots=True)
class EscalationState:
    """Per group: when escalation started, what it reached, who was told."""

    started_at: float
    level: int = 0
    cycle: int = 0
    paused_at: float | None = None
    notified: tuple[str, ...] = ()       # receivers told about this group, in order

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"notified": list(self.notified)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EscalationState":
        return cls(float(d["started_at"]), int(d.get("level", 0)), int(d.get("cycle", 0)),
                   None if d.get("paused_at") is None else float(d["paused_at"]), tuple(d.get("notified", ())))


@dataclass(frozen=True, slots=True)
class Step:
    state: EscalationState
    receivers: tuple[str, ...]           # receivers the group's notices go to now
    newly_reached: tuple[str, ...]       # receivers that must be told at once (force)
    next_at: float | None                # when the next level (or cycle) is due; None when acked or at the end


def _position(policy: Policy, elapsed: float, repeat_interval: float) -> tuple[int, int]:
    cycle = 0
    if policy.repeat:
        period = policy.cycle(repeat_interval)
        cycle = int(elapsed // period)
        elapsed -= cycle * period
    level = max(i for i, lv in enumerate(policy.levels) if lv.after <= elapsed) if elapsed >= policy.levels[0].after else -1
    return cycle, level


def start(now: float) -> EscalationState:
    return EscalationState(started_at=now, level=-1)


def advance(policy: Policy, state: EscalationState, now: float, *, acked: bool, repeat_interval: float) -> Step:
    """Move the group's escalation to `now`."""
    if acked:
        if state.paused_at is None:
            state = dataclasses.replace(state, paused_at=now)
        return Step(state, receivers_of(policy, state), (), None)
    if state.paused_at is not None:
        state = dataclasses.replace(state, started_at=state.started_at + (now - state.paused_at), paused_at=None)
    cycle, level = _position(policy, now - state.started_at, repeat_interval)
    newly: list[str] = []
    if cycle > state.cycle:
        newly += [r for lv in policy.levels[: level + 1] for r in lv.receivers]
    elif level > state.level:
        newly += [r for lv in policy.levels[state.level + 1: level + 1] for r in lv.receivers]
    notified = list(state.notified)
    for r in newly:
        if r not in notified:
            notified.append(r)
    state = dataclasses.replace(state, level=max(level, state.level) if cycle == state.cycle else level,
                                cycle=cycle, notified=tuple(notified))
    return Step(state, receivers_of(policy, state), tuple(dict.fromkeys(newly)), next_due(policy, state, repeat_interval))


def jump(policy: Policy, state: EscalationState) -> tuple[EscalationState, tuple[str, ...]]:
    """Reach the next level at once (a failed or unverified remediation); returns (state, receivers newly reached).

    Later levels keep their own times (measured from the group's start); at the
    last level there is nothing to jump to and the state is returned unchanged.
    """
    nxt = state.level + 1
    if nxt >= len(policy.levels):
        return state, ()
    newly = tuple(dict.fromkeys(policy.levels[nxt].receivers))
    notified = tuple(dict.fromkeys([*state.notified, *newly]))
    return dataclasses.replace(state, level=nxt, notified=notified), newly


def receivers_of(policy: Policy, state: EscalationState) -> tuple[str, ...]:
    current = [r for lv in policy.levels[: state.level + 1] for r in lv.receivers]
    return tuple(dict.fromkeys([*state.notified, *current]))


def next_due(policy: Policy, state: EscalationState, repeat_interval: float) -> float | None:
    base = state.started_at
    if policy.repeat:
        base += state.cycle * policy.cycle(repeat_interval)
    if state.level + 1 < len(policy.levels):
        return base + policy.levels[state.level + 1].after
    if policy.repeat:
        return state.started_at + (state.cycle + 1) * policy.cycle(repeat_interval)
    return None


def level_receivers(policy: Policy, upto: int) -> Sequence[str]:
    return [r for lv in policy.levels[: upto + 1] for r in lv.receivers]
