"""`watchdog notify test RECEIVER -c config.yaml`: a fire drill through the real notifiers.

Loads the config as the daemon does (secrets from `*_file` fields included), builds the
receiver's integrations with the same registry, and sends each one clearly marked test
notice (alertname `WatchdogFireDrill`, summary "TEST: ..."). Prints what every channel
answered, one line each, and exits 0 when all accepted, 1 when one did not, 2 on usage
errors (unknown receiver, invalid config). Secrets never appear in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time

from watchdog.clock import SYSTEM_CLOCK
from watchdog.notify.base import Notice, NoticeAlert, NotifyError
from watchdog.notify.delivery import attach_delivery_options
from watchdog.notify.registry import build_integrations

DRILL_ALERTNAME = "WatchdogFireDrill"


def drill_notice(receiver: str, now: float, external_url: str = "") -> Notice:
    labels = {"alertname": DRILL_ALERTNAME, "severity": "info", "receiver": receiver}
    alert = NoticeAlert(
        status="firing", labels=labels,
        annotations={"summary": f"TEST: fire drill for receiver {receiver}; no action needed",
                     "description": "Sent by `watchdog notify test`. If you read this, the channel works."},
        starts_at=now, ends_at=None, generator_url="",
        fingerprint=hashlib.sha256(f"drill:{receiver}".encode()).hexdigest()[:16],
    )
    return Notice.build(receiver=receiver, group_key=f"watchdog:fire-drill:{receiver}:{int(now)}",
                        group_labels={"alertname": DRILL_ALERTNAME}, alerts=[alert], external_url=external_url,
                        reason="fire drill (test notice)", created_at=now)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="notify_command", metavar="SUBCOMMAND")
    test = sub.add_parser("test", help="send a clearly marked test notice through every integration of RECEIVER")
    test.add_argument("receiver", metavar="RECEIVER")
    test.add_argument("-c", "--config", default="config.yaml", metavar="FILE", help="config.yaml (default: ./config.yaml)")
    test.add_argument("--resolve", action="store_true", help="also send the matching resolved notice")


async def _drill(receiver_cfg: object, name: str, external_url: str, resolve: bool) -> int:
    integrations = build_integrations(receiver_cfg, clock=SYSTEM_CLOCK)
    if not integrations:
        print(f"receiver {name}: no integrations configured (nothing to test)")
        return 1
    now = time.time()
    notice = drill_notice(name, now, external_url)
    failed = 0
    for integ in integrations:
        try:
            started = time.monotonic()
            await integ.notifier.send(notice)
            if resolve:
                alert = notice.alerts[0]
                resolved = NoticeAlert("resolved", alert.labels, alert.annotations, alert.starts_at, time.time(), "", alert.fingerprint)
                await integ.notifier.send(Notice.build(receiver=name, group_key=notice.group_key, group_labels=notice.group_labels,
                                                       alerts=[resolved], external_url=external_url, reason=notice.reason))
            print(f"{integ.key}: accepted ({(time.monotonic() - started) * 1000:.0f} ms)")
        except NotifyError as e:
            failed += 1
            kind = "retryable" if type(e).__name__ == "RetryableError" else "permanent"
            print(f"{integ.key}: FAILED ({kind}, {e.reason}): {e.message}")
        except Exception as e:   # a configuration the notifier cannot use
            failed += 1
            print(f"{integ.key}: FAILED ({type(e).__name__})")
        finally:
            try:
                await integ.notifier.close()
            except Exception:
                pass
    return 1 if failed else 0


def main(args: argparse.Namespace) -> int:
    if getattr(args, "notify_command", None) != "test":
        print("usage: watchdog notify test RECEIVER [-c FILE]", file=sys.stderr)
        return 2
    from watchdog.config.errors import ConfigErrors
    from watchdog.config.loader import load_config

    try:
        loaded = load_config(args.config)
    except ConfigErrors as exc:
        for e in exc.errors:
            print(str(e), file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"watchdog notify test: cannot read {args.config}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    alerting = loaded.alerting
    receiver = alerting.receiver(args.receiver) if alerting is not None else None
    if receiver is None:
        names = ", ".join(r.name for r in alerting.receivers) if alerting is not None else ""
        print(f"watchdog notify test: no receiver {args.receiver!r}" + (f" (known: {names})" if names else ""), file=sys.stderr)
        return 2
    attach_delivery_options(alerting, loaded.config.delivery)
    return asyncio.run(_drill(receiver, args.receiver, loaded.config.api.external_url or "", args.resolve))
