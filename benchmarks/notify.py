"""Notification delivery under load: N alert groups firing at once.

Real Dispatcher and outbox (SQLite in a temp dir), real notifiers, two local channel servers
on loopback: Slack (incoming webhook, answering 429 with Retry-After to half the requests) and
PagerDuty (Events API v2). Rate limits are raised for the run (the channels' defaults would
make it measure Slack's 1 message/s instead of us) and the routing's storm guard is off (it would fold the
1,000 groups into one summary). Prints JSON: seconds until every notice was
delivered, attempts, retries, duplicates (must be 0), outbox peak size.

    .venv/bin/python benchmarks/notify.py --groups 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.damping import StormSettings
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.clock import SYSTEM_CLOCK
from watchdog.config.models import DeliveryOptions
from watchdog.model import Alert, AlertState, Labels
from watchdog.notify.delivery import attach_delivery_options
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.pagerduty_server import PagerdutyServer
from watchdog.testing.slack_server import SlackServer


async def run(groups: int, rate_limited: float) -> dict:
    slack, pd = SlackServer(seed=1), PagerdutyServer(seed=2)
    slack.rate_limit_ratio, slack.rate_limit_retry_after = rate_limited, 0.05
    await slack.start()
    await pd.start()
    am = AlertingConfig.model_validate({
        "route": {"receiver": "both", "group_by": ["alertname", "instance"], "group_wait": "0s", "group_interval": "1h", "repeat_interval": "4h"},
        "receivers": [{"name": "both",
                       "slack_configs": [{"api_url": slack.webhook_url()}],
                       "pagerduty_configs": [{"routing_key": "R" * 32, "url": pd.url}]}],
    })
    attach_delivery_options(am, {"both": DeliveryOptions.model_validate({"rate_limit": {"count": 100000, "per": "1s"}})})
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(f"{tmp}/bench.db")
        await store.open()
        # The storm guard would (rightly) fold 1,000 new groups into one summary; this measures delivery.
        d = Dispatcher(am, store=store, clock=SYSTEM_CLOCK, storm=StormSettings(enabled=False))
        now = time.time()
        alerts = [Alert(labels=Labels.of(alertname="BenchDown", instance=f"host-{i:04d}", severity="critical"),
                        annotations={"summary": f"host-{i:04d} is down"}, state=AlertState.FIRING, active_at=now, fired_at=now)
                  for i in range(groups)]
        started = time.monotonic()
        await d.on_alerts(alerts, now)
        runner = asyncio.create_task(d.run())
        peak = 0
        expected = 2 * groups
        while len(slack.received) + len(pd.events) < expected and time.monotonic() - started < 600:
            peak = max(peak, len(await store.outbox_all()))
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.5)   # anything sent twice would arrive now
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        failed = await store.events(kinds=["notification.failed"], limit=1_000_000)
        sent = await store.events(kinds=["notification.sent"], limit=1_000_000)
        await d.close()
        await store.close()
    await slack.stop()
    await pd.stop()
    texts = Counter(r.body["text"] for r in slack.received)
    keys = Counter(e["dedup_key"] for e in pd.events)
    duplicates = sum(n - 1 for n in texts.values() if n > 1) + sum(n - 1 for n in keys.values() if n > 1)
    return {
        "groups": groups, "notices": expected, "delivered": len(slack.received) + len(pd.events),
        "seconds_until_all_delivered": round(elapsed, 3),
        "attempts": len(sent) + len(failed), "retries": len(failed), "slack_429s": slack.rejected,
        "duplicates": duplicates, "outbox_peak": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--rate-limited", type=float, default=0.5, help="share of Slack requests answered 429")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.groups, args.rate_limited))))


if __name__ == "__main__":
    main()
