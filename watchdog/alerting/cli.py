"""Client commands that talk to the running daemon's API: `alerts`, `silence add|ls|expire`, `ack`, `unack`.

Address, token, errors and exit codes: watchdog.apiclient (the same for every client command).
Exit 0 done, 1 the daemon refused or failed, 2 usage or connection error.
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from datetime import datetime, timezone
from typing import Any

from watchdog.apiclient import ClientError, add_client_arguments, call, command_name, current_user, run_reporting_errors

__all__ = ["ClientError", "add_arguments", "call", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command = command_name(parser)
    if command != "silence":      # silence's subcommands take these themselves
        add_client_arguments(parser)
    if command == "silence":
        sub = parser.add_subparsers(dest="silence_command", metavar="SUBCOMMAND")
        add = sub.add_parser("add", help="add a silence")
        add.add_argument("matchers", nargs="+", help="Alertmanager matchers, e.g. 'alertname=\"X\"' 'host=~\"db-.*\"'")
        add.add_argument("--duration", default="1h", help="how long (default 1h)")
        add.add_argument("--start", default=None, help="RFC 3339 start (default now)")
        add.add_argument("--comment", default="", help="why")
        add.add_argument("--author", default=None, help="who (default: the current user)")
        ls = sub.add_parser("ls", help="list silences")
        ls.add_argument("--expired", action="store_true", help="include expired silences")
        expire = sub.add_parser("expire", help="end silences now")
        expire.add_argument("ids", nargs="+")
        for p in (add, ls, expire):
            add_client_arguments(p)
    elif command == "ack":
        parser.add_argument("group", help="group id (or a unique prefix of 8+ characters) as `watchdog alerts --groups` shows")
        parser.add_argument("--comment", default="")
        parser.add_argument("--by", default=None, help="who (default: the current user)")
        parser.add_argument("--duration", default=None, help="the ack expires after this long (default: until resolved)")
    elif command == "unack":
        parser.add_argument("group")
    elif command == "alerts":
        parser.add_argument("--groups", action="store_true", help="show alert groups (ids, receivers, ack, escalation)")


def _when(t: Any) -> str:
    if t is None:
        return "-"
    if isinstance(t, str):
        return t
    return datetime.fromtimestamp(float(t), timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


def main(args: argparse.Namespace) -> int:
    return run_reporting_errors(args, _run)


def _run(args: argparse.Namespace) -> int:
    if args.command == "alerts":
        return _alerts(args)
    if args.command == "ack":
        body: dict[str, Any] = {"by": args.by or current_user(), "comment": args.comment}
        if args.duration:
            body["duration"] = args.duration
        group = call(args, "POST", f"/api/v1/groups/{urllib.parse.quote(args.group, safe='')}/ack", body)
        print(f"acknowledged {group['id'][:12]} {group['key']}")
        return 0
    if args.command == "unack":
        removed = call(args, "DELETE", f"/api/v1/groups/{urllib.parse.quote(args.group, safe='')}/ack")
        print("unacknowledged" if removed.get("unacknowledged") else "was not acknowledged")
        return 0
    if args.command == "silence":
        return _silence(args)
    return 2


def _silence(args: argparse.Namespace) -> int:
    sub = getattr(args, "silence_command", None)
    if sub == "add":
        body: dict[str, Any] = {"matchers": args.matchers, "duration": args.duration, "comment": args.comment,
                                "createdBy": args.author or current_user()}
        if args.start:
            body["startsAt"] = args.start
        print(call(args, "POST", "/api/v1/silences", body)["silenceID"])
        return 0
    if sub == "ls":
        silences = call(args, "GET", "/api/v1/silences")["silences"]
        rows = [[s["id"], ",".join(s["matchers"]), _when(s["startsAt"]), _when(s["endsAt"]), s["createdBy"], s["comment"],
                 s["status"]["state"]] for s in silences if args.expired or s["status"]["state"] != "expired"]
        _table(rows, ["ID", "Matchers", "Starts At", "Ends At", "Created By", "Comment", "State"])
        return 0
    if sub == "expire":
        for sid in args.ids:
            call(args, "DELETE", f"/api/v1/silences/{urllib.parse.quote(sid, safe='')}")
        return 0
    print("usage: watchdog silence add|ls|expire ...", file=sys.stderr)
    return 2


def _alerts(args: argparse.Namespace) -> int:
    if args.groups:
        groups = call(args, "GET", "/api/v1/groups")["groups"]
        rows = []
        for g in groups:
            firing = sum(1 for a in g["alerts"] if a["state"] == "firing")
            ack = g.get("acknowledged")
            level = g.get("escalation") or {}
            rows.append([g["id"][:12], ",".join(f"{k}={v}" for k, v in sorted(g["labels"].items())),
                         ",".join(g.get("receivers") or [g["receiver"]]), str(firing),
                         f"by {ack['by']}" if ack else "-", str(level.get("level", "-")) if level else "-"])
        _table(rows, ["Group", "Labels", "Receivers", "Firing", "Ack", "Level"])
        return 0
    alerts = call(args, "GET", "/api/v1/alerts")["alerts"]
    rows = [[a["labels"].get("alertname", ""), a["state"], a.get("activeAt") or "-",
             ",".join(f"{k}={v}" for k, v in sorted(a["labels"].items()) if k != "alertname"),
             a.get("annotations", {}).get("summary", "")] for a in alerts]
    _table(rows, ["Alertname", "State", "Active Since", "Labels", "Summary"])
    return 0
