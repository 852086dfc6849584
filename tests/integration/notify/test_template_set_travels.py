"""The notification template set travels with the config that is in force: loading a config
installs nothing, a reload that fails to swap keeps rendering with the old set, one that
succeeds renders with the new set (real loader, real Dispatcher, a real Slack test server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdog.alerting.dispatcher import Dispatcher
from watchdog.config.loader import load_config
from watchdog.model import Alert, AlertState, Labels
from watchdog.notify import templates
from watchdog.notify.drill import run_drill
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock
from watchdog.testing.slack_server import SlackServer

from notify_channel_helpers import T0, alert as notice_alert, notice


def _load(tmp_path: Path, version: str, slack_url: str):
    """A config whose template file defines `custom.title` as "<version> <alertname>"."""
    d = tmp_path / version
    d.mkdir()
    (d / "t.tmpl").write_text('{{ define "custom.title" }}%s {{ .CommonLabels.alertname }}{{ end }}\n' % version)
    (d / "am.yml").write_text(f"""
route: {{receiver: ops, group_by: [alertname, instance], group_wait: 1s, group_interval: 1m, repeat_interval: 4h}}
templates: ['*.tmpl']
receivers:
  - name: ops
    slack_configs:
      - api_url: {slack_url}
        title: '{{{{ template "custom.title" . }}}}'
""")
    (d / "config.yaml").write_text("alerting_file: am.yml\n")
    return load_config(str(d / "config.yaml"))


def _alert(instance: str) -> Alert:
    return Alert(labels=Labels.of(alertname="ApiDown", instance=instance), annotations={"summary": "down"},
                 state=AlertState.FIRING, active_at=T0 - 60, fired_at=T0)


async def _notify(d: Dispatcher, clock: FakeClock, instance: str) -> None:
    await d.on_alerts([_alert(instance)], clock.now())
    for _ in range(5):
        clock.advance(1)
        await d.process_due()


def test_loading_a_config_changes_no_rendering(tmp_path):
    _load(tmp_path, "NEW", "http://127.0.0.1:9/hook")
    n = notice(notice_alert())
    # without a set, fields render with our defaults: "custom.title" is unknown there -> the default text
    assert templates.render('{{ template "custom.title" . }}', n, default="fallback") == "fallback"


async def test_failed_swap_keeps_the_old_set_and_a_successful_one_takes_the_new(tmp_path):
    store = SqliteStore(str(tmp_path / "wd.db"))
    await store.open()
    clock = FakeClock(T0)
    try:
        async with SlackServer() as slack:
            old = _load(tmp_path, "OLD", slack.webhook_url())
            d = Dispatcher(old.alerting, store=store, clock=clock, templates=old.notification_templates)
            assert d.notification_templates is old.notification_templates

            # a config that loaded cleanly but cannot be swapped in: its receiver cannot be built
            broken = _load(tmp_path, "NEW", slack.webhook_url())
            broken.alerting.receivers[0].slack_configs[0].api_url = None
            with pytest.raises(ValueError):
                d.update_config(broken.alerting, templates=broken.notification_templates)
            assert d.notification_templates is old.notification_templates
            await _notify(d, clock, "a")
            assert [m.body["text"] for m in slack.received] == ["OLD ApiDown"]
            # the fire drill of the running daemon renders with the set in force as well
            answers = await run_drill(d.alerting.receiver("ops"), clock=clock, templates=d.notification_templates)
            assert answers[0]["accepted"]
            assert slack.received[-1].body["text"] == "OLD WatchdogFireDrill"

            new = _load(tmp_path, "NEWER", slack.webhook_url())
            d.update_config(new.alerting, templates=new.notification_templates)
            await _notify(d, clock, "b")
            assert slack.received[-1].body["text"] == "NEWER ApiDown"
            await d.close()
    finally:
        await store.close()
