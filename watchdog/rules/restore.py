"""Restoring `for` state after a restart, as Prometheus's RestoreForState (pure)."""

from __future__ import annotations


def restored_active_at(
    active_at: float, hold: float, down_at: float | None, now: float, outage_tolerance: float, grace: float
) -> float | None:
    """The active time of a pending alert restored at `now` (None: start afresh), as Prometheus computes it."""
    if down_at is None or hold <= 0:
        return active_at
    if now - down_at > outage_tolerance:
        return None
    if hold < grace:   # waiting the grace period would be longer than `for` itself
        return active_at
    remaining = hold - (down_at - active_at)
    if remaining <= 0:
        return active_at            # it was about to fire: fires at the next evaluation that still matches
    if remaining < grace:
        return now + grace - hold   # at least the grace period left to pend
    return active_at + (now - down_at)   # the downtime does not count as pending
