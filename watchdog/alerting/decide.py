"""What one integration should be told about one group at a flush. Pure.

Alertmanager's DedupStage over the notification log, extended with *held*
alerts (silenced, inhibited, or in a muted time interval): a held alert is
never announced as firing, but one the receiver already heard of stays
"known", so muting an alert never looks like its resolution, and its real
resolution is still told (whatever muted it meanwhile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from watchdog.state.base import NotificationRecord


@dataclass(frozen=True, slots=True)
class Decision:
    send: bool
    firing: tuple[str, ...]           # fingerprints to announce as firing
    resolved: tuple[str, ...]         # fingerprints to announce as resolved (already filtered by send_resolved)
    record_firing: tuple[str, ...]    # what the receiver will believe is firing afterwards
    record_resolved: tuple[str, ...]


def decide(
    last: NotificationRecord | None,
    visible_firing: Sequence[str],
    held_firing: Sequence[str],
    resolved: Sequence[str],
    *,
    send_resolved: bool,
    repeat_interval: float,
    now: float,
    repeat_allowed: bool = True,
    force: bool = False,
) -> Decision:
    known = set(last.firing_fingerprints) if last is not None else set()
    told_resolved = set(last.resolved_fingerprints) if last is not None else set()
    visible = set(visible_firing)
    held_known = set(held_firing) & known
    resolved_known = set(resolved) & (known | told_resolved)
    record_firing = tuple(sorted(visible | held_known))
    record_resolved = tuple(sorted(resolved_known))
    if force:
        send = bool(visible) or bool(resolved_known - told_resolved)
    elif last is None:
        send = bool(visible)
    elif visible - known:
        send = True
    elif not visible and not held_known:
        send = bool(known)            # everything the receiver heard of is over: say so (the log forgets them)
    elif send_resolved and (resolved_known & known) - told_resolved:
        send = True
    else:
        send = bool(visible) and repeat_allowed and last.sent_at <= now - repeat_interval
    return Decision(
        send=send,
        firing=tuple(sorted(visible)),
        resolved=tuple(sorted(resolved_known)) if send_resolved else (),
        record_firing=record_firing,
        record_resolved=record_resolved,
    )
