"""A time-muted alert counts as muted for remediation (when_silenced), as Alertmanager marks it suppressed.

Real Dispatcher and Remediator, a real subprocess action, SQLite, FakeClock (starts Tue 2023-11-14 22:13:20 UTC).
"""

from __future__ import annotations

import asyncio
import stat
import textwrap

import pytest

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.model import Alert, AlertState, Labels
from watchdog.promql import Engine
from watchdog.remediate.remediator import Remediator
from watchdog.remediate.spec import load_remediation_files
from watchdog.state.sqlite import SqliteStore
from watchdog.tsdb import SeriesStore

LATE_EVENING = {"name": "late-evening", "time_intervals": [{"times": [{"start_time": "22:00", "end_time": "23:00"}]}]}
MORNING = {"name": "morning", "time_intervals": [{"times": [{"start_time": "08:00", "end_time": "09:00"}]}]}


def alerting(db_route: dict, *more_routes: dict) -> AlertingConfig:
    routes = [{"matchers": ['team="db"'], **db_route}, *more_routes]
    return AlertingConfig.model_validate({
        "route": {"receiver": "oncall", "group_wait": "0s", "routes": routes},
        "receivers": [{"name": "oncall", "log_configs": [{}]}, {"name": "db", "log_configs": [{}]}],
        "time_intervals": [LATE_EVENING, MORNING],
    })


def down(team: str, now: float) -> Alert:
    return Alert(labels=Labels.of(alertname="Down", team=team, target="demo"), annotations={}, state=AlertState.FIRING,
                 active_at=now, fired_at=now)


@pytest.fixture
async def store(tmp_path, fake_clock):
    s = SqliteStore(str(tmp_path / "wd.db"), clock=fake_clock)
    await s.open()
    yield s
    await s.close()


@pytest.mark.parametrize("routes,muted", [
    ([{"receiver": "db", "mute_time_intervals": ["late-evening"]}], True),      # in the mute window now
    ([{"receiver": "db", "mute_time_intervals": ["morning"]}], False),          # the window is not now
    ([{"receiver": "db", "active_time_intervals": ["morning"]}], True),         # outside the active hours
    ([{"receiver": "db", "active_time_intervals": ["late-evening"]}], False),
    # the db route mutes, but `continue` reaches a sibling route that tells someone: not muted
    ([{"receiver": "db", "mute_time_intervals": ["late-evening"], "continue": True},
      {"matchers": ['team="db"'], "receiver": "oncall"}], False),
])
async def test_is_muted_follows_the_routes_time_intervals(store, fake_clock, routes, muted):
    d = Dispatcher(alerting(*routes), store=store, clock=fake_clock)
    now = fake_clock.now()
    assert d.is_time_muted(down("db", now).labels) is muted
    assert d.is_muted(down("db", now)) is muted
    assert d.is_muted(down("web", now)) is False       # the root route has no time intervals
    await d.close()


@pytest.mark.parametrize("when_silenced,expect_run", [("skip", False), ("run", True)])
async def test_remediation_skips_a_time_muted_alert_unless_when_silenced_run(tmp_path, store, fake_clock, when_silenced, expect_run):
    script = tmp_path / "fix.sh"
    script.write_text("#!/bin/sh\necho fixed\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    spec_file = tmp_path / "r.yml"
    spec_file.write_text(textwrap.dedent(f"""
        remediations:
          - name: fix
            match: ['alertname="Down"']
            action: {{type: command, argv: [{script}], timeout: 5s}}
            when_silenced: {when_silenced}
        """))
    specs, errors = load_remediation_files([str(spec_file)])
    assert [str(e) for e in errors] == []
    d = Dispatcher(alerting({"receiver": "db", "mute_time_intervals": ["late-evening"]}), store=store, clock=fake_clock)
    r = Remediator(specs, store=store, engine=Engine(SeriesStore()), clock=fake_clock, notify_now=d.notify_now,
                   is_muted=d.is_muted)
    await r.on_alerts([down("db", fake_clock.now())], fake_clock.now())
    runs = await store.runs()
    assert len(runs) == (1 if expect_run else 0)
    if expect_run:
        for _ in range(500):
            if (await store.get_run(runs[0].id)).status == "succeeded":
                break
            await asyncio.sleep(0.01)
        assert (await store.get_run(runs[0].id)).status == "succeeded"
    else:
        skipped = [e.data for e in await store.events(kinds=["remediation.skipped"])]
        assert [s["code"] for s in skipped] == ["silenced"]
    await r.drain(5.0)
    await d.close()
