"""Client commands for remediation, through the running daemon's API.

`watchdog remediate NAME --label k=v [--dry-run]`, `watchdog remediations`,
`watchdog approve ID`, `watchdog kill-switch on|off`, `watchdog change record
--service S --version V [--previous-version P] [--link URL]`. Address, token and
errors: watchdog.apiclient, as for every client command.
Exit 0 done, 1 refused or failed, 2 usage or connection error.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from typing import Any

from watchdog.apiclient import ClientError, add_client_arguments, call, command_name, current_user, run_reporting_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command = command_name(parser)
    if command == "change":
        sub = parser.add_subparsers(dest="change_command", metavar="SUBCOMMAND")
        rec = sub.add_parser("record", help="record a change (deploy) event")
        rec.add_argument("--service", required=True)
        rec.add_argument("--version", required=True)
        rec.add_argument("--previous-version", default="")
        rec.add_argument("--link", default="")
        rec.add_argument("--label", action="append", default=[], metavar="K=V", help="extra label to match on (repeatable)")
        rec.add_argument("--by", default=None, help="who (default: the current user)")
        ls = sub.add_parser("ls", help="list recent changes")
        ls.add_argument("--service", default=None)
        for p in (rec, ls):
            add_client_arguments(p, json=True)
        return
    add_client_arguments(parser, json=True)
    if command == "remediate":
        parser.add_argument("name", help="remediation spec name")
        parser.add_argument("--label", action="append", default=[], metavar="K=V", help="alert label (repeatable)")
        parser.add_argument("--dry-run", action="store_true", help="record what would run, run nothing")
    elif command == "remediations":
        parser.add_argument("--spec", default=None, help="only runs of this remediation")
        parser.add_argument("--limit", type=int, default=20)
    elif command == "approve":
        parser.add_argument("id", type=int, help="run id (as `watchdog remediations` shows)")
        parser.add_argument("--by", default=None, help="who approves (default: the current user)")
    elif command == "kill-switch":
        parser.add_argument("state", choices=["on", "off"])
        parser.add_argument("--by", default=None)


def parse_labels(items: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ClientError(f"--label {item!r}: expected K=V", 2)
        labels[key] = value
    return labels


def _print_run(run: dict[str, Any]) -> None:
    what = run["action"].get("argv") or run["action"].get("url") or run["action"].get("unit") or run["action"].get("container") or ""
    print(f"run {run['id']}: {run['spec']} {run['status']}" + (f" — {run['note']}" if run.get("note") else "") + (f" {what}" if what else ""))


def main(args: argparse.Namespace) -> int:
    return run_reporting_errors(args, _run)


def _run(args: argparse.Namespace) -> int:
    if args.command == "change":
        return _change(args)
    if args.command == "remediate":
        body = {"labels": parse_labels(args.label), "dry_run": args.dry_run}
        run = call(args, "POST", f"/api/v1/remediations/{urllib.parse.quote(args.name, safe='')}/run", body)
        print(json.dumps(run, indent=2)) if args.json else _print_run(run)
        return 1 if run["status"] in ("skipped", "failed") else 0
    if args.command == "remediations":
        query = urllib.parse.urlencode({k: v for k, v in {"spec": args.spec, "limit": args.limit}.items() if v})
        data = call(args, "GET", "/api/v1/remediations?" + query)
        if args.json:
            print(json.dumps(data, indent=2))
            return 0
        print(f"kill switch: {'ON' if data['kill_switch'] else 'off'}")
        for run in data["runs"]:
            _print_run(run)
        return 0
    if args.command == "approve":
        run = call(args, "POST", f"/api/v1/remediations/{args.id}/approve", {"by": args.by or current_user()})
        _print_run(run)
        return 0
    if args.command == "kill-switch":
        if args.state == "on":
            call(args, "POST", "/api/v1/remediations/kill-switch", {"by": args.by or current_user()})
        else:
            call(args, "DELETE", "/api/v1/remediations/kill-switch?" + urllib.parse.urlencode({"by": args.by or current_user()}))
        print(f"kill switch {args.state}")
        return 0
    return 2


def _change(args: argparse.Namespace) -> int:
    if args.change_command == "record":
        body = {"service": args.service, "version": args.version, "previous_version": args.previous_version,
                "link": args.link, "labels": parse_labels(args.label), "by": args.by or current_user()}
        change = call(args, "POST", "/api/v1/changes", body)
        print(json.dumps(change, indent=2) if args.json else f"recorded change {change['id']}: {change['service']} {change['previous_version'] or '?'} -> {change['version']}")
        return 0
    if args.change_command == "ls":
        query = urllib.parse.urlencode({"service": args.service} if args.service else {})
        data = call(args, "GET", "/api/v1/changes?" + query)
        for c in data["changes"]:
            print(f"{c['id']}  {c['service']}  {c['previous_version'] or '?'} -> {c['version']}  {c['link']}")
        return 0
    print("watchdog change: choose a subcommand: record | ls", file=sys.stderr)
    return 2
