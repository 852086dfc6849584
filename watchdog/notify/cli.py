"""`watchdog notify test RECEIVER`: a fire drill through the real notifiers.

By default it asks the running daemon (`POST /api/v1/receivers/{name}/test`, `--url` or
`api.listen` of `-c FILE`, token from `--token-file` / `$WATCHDOG_TOKEN`), so the drill uses the
daemon's loaded receivers and secrets. `--direct` loads `-c FILE` here instead (secrets from
`*_file` fields included) and builds the notifiers with the same registry: for a daemon that is
not running, or a config not deployed yet.

Either way one clearly marked test notice (alertname `WatchdogFireDrill`, summary "TEST: ...")
goes through every integration of the receiver, and what every channel answered is printed,
one line each. Exit 0 when all accepted, 1 when one did not (or the daemon refused), 2 on usage
errors (unknown receiver, invalid config, daemon unreachable). Secrets never appear in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.parse
from typing import Any

from watchdog.apiclient import ClientError, add_client_arguments, call
from watchdog.clock import SYSTEM_CLOCK
from watchdog.notify.delivery import attach_delivery_options
from watchdog.notify.drill import DRILL_ALERTNAME, drill_notice, format_answer, run_drill

__all__ = ["DRILL_ALERTNAME", "drill_notice", "add_arguments", "main"]

API_TIMEOUT = 120.0    # a drill waits for every channel's answer (each bounded by its own timeout)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="notify_command", metavar="SUBCOMMAND")
    test = sub.add_parser("test", help="send a clearly marked test notice through every integration of RECEIVER")
    test.add_argument("receiver", metavar="RECEIVER")
    add_client_arguments(test, config_help="config.yaml (api.listen for the daemon; the receivers with --direct)")
    test.add_argument("--direct", action="store_true", help="send from here with -c FILE's receivers, not through the daemon")
    test.add_argument("--resolve", action="store_true", help="also send the matching resolved notice")


def _print_answers(answers: list[dict[str, Any]], receiver: str) -> int:
    if not answers:
        print(f"receiver {receiver}: no integrations configured (nothing to test)")
        return 1
    for answer in answers:
        print(format_answer(answer))
    return 0 if all(a.get("accepted") for a in answers) else 1


def _through_daemon(args: argparse.Namespace) -> int:
    path = f"/api/v1/receivers/{urllib.parse.quote(args.receiver, safe='')}/test"
    try:
        data = call(args, "POST", path, {"resolve": bool(args.resolve)}, timeout=API_TIMEOUT)
    except ClientError as e:
        if e.status is not None:   # the daemon answered: an unknown receiver is a usage error
            print(f"watchdog notify test: the daemon answered {e.status}: {e.detail}", file=sys.stderr)
            return 2 if e.status == 404 else 1
        hint = " (use --direct -c FILE to send from here)" if e.code == 2 and str(e).startswith("cannot reach") else ""
        print(f"watchdog notify test: {e}{hint}", file=sys.stderr)
        return e.code
    return _print_answers(list((data or {}).get("answers") or []), args.receiver)


def _direct(args: argparse.Namespace) -> int:
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
    answers = asyncio.run(run_drill(receiver, clock=SYSTEM_CLOCK, external_url=loaded.config.api.external_url or "",
                                    resolve=args.resolve, templates=loaded.notification_templates))
    return _print_answers(answers, args.receiver)


def main(args: argparse.Namespace) -> int:
    if getattr(args, "notify_command", None) != "test":
        print("usage: watchdog notify test RECEIVER [--url URL] [--token-file FILE] [--direct -c FILE] [--resolve]",
              file=sys.stderr)
        return 2
    return _direct(args) if args.direct else _through_daemon(args)
