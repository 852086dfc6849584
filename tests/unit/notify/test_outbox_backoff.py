"""Full-jitter backoff and the outbox payload record codec."""

from __future__ import annotations

import random

from watchdog.notify.outbox import BACKOFF_CAP, full_jitter_backoff, record_from_dict, record_to_dict
from watchdog.state.base import NotificationRecord


def test_full_jitter_grows_and_is_capped():
    rng = random.Random(42)
    for attempt in range(1, 30):
        ceiling = min(BACKOFF_CAP, 2 ** (attempt - 1))
        samples = [full_jitter_backoff(attempt, rng) for _ in range(200)]
        assert all(0.1 <= s <= max(ceiling, 0.1) for s in samples)
    late = [full_jitter_backoff(12, rng) for _ in range(500)]
    assert max(late) > BACKOFF_CAP / 2                       # jitter spreads over the whole range
    assert [full_jitter_backoff(5, random.Random(1)) for _ in range(2)] == [full_jitter_backoff(5, random.Random(1))] * 2


def test_record_round_trip():
    r = NotificationRecord("{}:{a=\"b\"}", "oncall/webhook/0", "firing", 12.5, "abc", ("f1", "f2"), ("f3",))
    assert record_from_dict(record_to_dict(r)) == r
