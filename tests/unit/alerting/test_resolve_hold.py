"""The resolved notice waits (bounded) while a remediation of the alert awaits its verdict. FakeClock, SQLite."""

from __future__ import annotations

import dataclasses

import pytest

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.alerting.resolve_hold import Hold, hold_decision
from watchdog.model import Alert, AlertState, Labels
from watchdog.state.sqlite import SqliteStore

KEY = '{}:{alertname="Down"}'


def alerting() -> AlertingConfig:
    return AlertingConfig.model_validate({
        "route": {"receiver": "r", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s"},
        "receivers": [{"name": "r", "log_configs": [{"send_resolved": True}]}]})


class FakeRemediator:
    """Stands in for Remediator.verifying and its note hand-over (the real loop is tested in integration)."""

    def __init__(self) -> None:
        self.pending: set[str] = set()

    def verifying(self, fingerprint: str) -> bool:
        return fingerprint in self.pending


@pytest.fixture
async def env(tmp_path, fake_clock):
    store = SqliteStore(str(tmp_path / "wd.db"), clock=fake_clock)
    await store.open()
    d = Dispatcher(alerting(), store=store, clock=fake_clock, external_labels={"site": "x"})
    rem = FakeRemediator()
    d.hold_resolved_while(rem.verifying, max_hold=20.0)
    yield store, d, rem
    await d.close()
    await store.close()


def down(t0: float, resolved_at: float | None = None, **annotations: str) -> Alert:
    return Alert(labels=Labels.of(alertname="Down", target="demo"), annotations=annotations,
                 state=AlertState.RESOLVED if resolved_at else AlertState.FIRING, active_at=t0, fired_at=t0,
                 resolved_at=resolved_at)


async def last(store) -> tuple[str, dict]:
    rec = await store.last_notification(KEY, "r/log/0")
    sent = [e.data for e in await store.events(kinds=["notification.sent"])]
    return rec.status, sent


async def step(d, fake_clock, seconds, alerts=()):
    fake_clock.advance(seconds)
    if alerts:
        await d.on_alerts(list(alerts), fake_clock.now())
    await d.process_due()


async def fired(store, d, fake_clock, rem):
    t0 = fake_clock.now()
    await d.on_alerts([down(t0)], t0)
    await d.process_due()
    assert (await last(store))[0] == "firing"
    rem.pending.add(down(t0).fingerprint)      # the remediator knows the alert without the external label
    return t0


async def test_resolved_notice_waits_for_the_verdict_and_carries_the_note(env, fake_clock):
    store, d, rem = env
    t0 = await fired(store, d, fake_clock, rem)
    # the service came back before the action returned: the rules resolve the alert
    await step(d, fake_clock, 2, [down(t0, resolved_at=t0 + 2)])
    await step(d, fake_clock, 3, [down(t0, resolved_at=t0 + 2)])
    assert (await last(store))[0] == "firing"          # held: nothing said yet
    assert d.groups()[0]["alerts"][0]["state"] == "resolved"
    # verdict: verified; the next round brings the plain alert, then the remediator's noted one
    rem.pending.clear()
    fake_clock.advance(1)
    await d.on_alerts([down(t0, resolved_at=t0 + 2)], fake_clock.now())
    await d.on_alerts([down(t0, resolved_at=t0 + 2, remediation="remediated by fix after 4s")], fake_clock.now())
    (held,) = d.find_group(KEY).alerts.values()      # the flush snapshot: what the resolved notice carries
    assert held.annotations["remediation"] == "remediated by fix after 4s"
    await d.process_due()
    status, sent = await last(store)
    assert status == "resolved"
    assert [e["status"] for e in sent] == ["firing", "resolved"]
    assert d.groups() == []


async def test_failed_verification_releases_at_the_next_round_without_a_note(env, fake_clock):
    store, d, rem = env
    t0 = await fired(store, d, fake_clock, rem)
    await step(d, fake_clock, 2, [down(t0, resolved_at=t0 + 2)])
    assert (await last(store))[0] == "firing"
    rem.pending.clear()                                 # verdict: not verified (no note comes)
    await step(d, fake_clock, 1, [down(t0, resolved_at=t0 + 2)])
    assert (await last(store))[0] == "resolved"


async def test_the_hold_is_bounded(env, fake_clock):
    store, d, rem = env
    t0 = await fired(store, d, fake_clock, rem)
    await step(d, fake_clock, 2, [down(t0, resolved_at=t0 + 2)])
    for _ in range(19):
        await step(d, fake_clock, 1)
        assert (await last(store))[0] == "firing"       # still verifying, within max_hold (20 s)
    await step(d, fake_clock, 1)
    assert (await last(store))[0] == "resolved"         # the bound passed: told without the note


async def test_without_a_remediation_the_resolved_notice_is_not_held(env, fake_clock):
    store, d, rem = env
    t0 = await fired(store, d, fake_clock, rem)
    rem.pending.clear()
    await step(d, fake_clock, 2, [down(t0, resolved_at=t0 + 2)])
    assert (await last(store))[0] == "resolved"


async def test_another_alert_of_the_group_is_not_delayed_by_the_hold(env, fake_clock):
    store, d, rem = env
    t0 = await fired(store, d, fake_clock, rem)
    await step(d, fake_clock, 2, [down(t0, resolved_at=t0 + 2)])
    other = dataclasses.replace(down(fake_clock.now()), labels=Labels.of(alertname="Down", target="other"))
    await step(d, fake_clock, 1, [other])
    rec = await store.last_notification(KEY, "r/log/0")
    assert rec.status == "firing" and len(rec.firing_fingerprints) == 2 and rec.sent_at == fake_clock.now()


def test_hold_decision_is_pure():
    a = down(0.0, resolved_at=5.0)
    assert hold_decision(None, a, True, 10.0, 30.0) == (True, Hold(10.0))
    assert hold_decision(None, a, False, 10.0, 30.0) == (False, None)
    assert hold_decision(Hold(10.0), a, True, 39.9, 30.0) == (True, Hold(10.0))
    assert hold_decision(Hold(10.0), a, True, 40.0, 30.0) == (False, None)
    assert hold_decision(Hold(10.0, released=True), a, False, 11.0, 30.0) == (False, None)
    noted = down(0.0, resolved_at=5.0, remediation="remediated by fix after 1s")
    assert hold_decision(Hold(10.0), noted, True, 11.0, 30.0) == (False, None)
