"""Client commands that talk to the running daemon's API: `alerts`, `silence add|ls|expire`, `ack`, `unack`.

The URL comes from `--url`, else from `api.listen` in `-c FILE` (default
config.yaml), else http://127.0.0.1:9797. The token (needed for changes)
from `--token-file` or `$WATCHDOG_TOKEN`; it is sent only as a bearer header.
Exit 0 done, 1 the daemon refused or failed, 2 usage or connection error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any

DEFAULT_URL = "http://127.0.0.1:9797"
TIMEOUT = 10.0


class ClientError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _command(parser: argparse.ArgumentParser) -> str:
    return parser.prog.split()[-1]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="config.yaml", metavar="FILE", help="config.yaml (for api.listen)")
    parser.add_argument("--url", default=None, help="the daemon's API, e.g. http://127.0.0.1:9797")
    parser.add_argument("--token-file", default=None, help="file holding the API token (default: $WATCHDOG_TOKEN)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    command = _command(parser)
    if command != "silence":      # silence's subcommands take these themselves
        _common(parser)
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
            _common(p)
    elif command == "ack":
        parser.add_argument("group", help="group id (or a unique prefix of 8+ characters) as `watchdog alerts --groups` shows")
        parser.add_argument("--comment", default="")
        parser.add_argument("--by", default=None, help="who (default: the current user)")
        parser.add_argument("--duration", default=None, help="the ack expires after this long (default: until resolved)")
    elif command == "unack":
        parser.add_argument("group")
    elif command == "alerts":
        parser.add_argument("--groups", action="store_true", help="show alert groups (ids, receivers, ack, escalation)")


def _base_url(args: argparse.Namespace) -> str:
    if args.url:
        return args.url.rstrip("/")
    try:
        import yaml

        with open(args.config, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        listen = str(((data.get("api") or {}).get("listen")) or "")
    except (OSError, ValueError, AttributeError, ImportError):
        listen = ""
    except Exception:  # a YAML error: fall back to the default address
        listen = ""
    if not listen:
        return DEFAULT_URL
    host, _, port = listen.rpartition(":")
    host = host or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as f:
                return f.read().strip() or None
        except OSError as e:
            raise ClientError(f"cannot read --token-file: {e.strerror or e}", 2) from None
    return os.environ.get("WATCHDOG_TOKEN") or None


def call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """One API call; returns `data` of a success envelope, raises ClientError otherwise."""
    url = _base_url(args) + path
    headers = {"Accept": "application/json"}
    token = _token(args)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            payload = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            payload = json.loads(e.read() or b"{}")
            message = payload.get("error") or e.reason
        except (ValueError, AttributeError):
            message = e.reason
        raise ClientError(f"{method} {path}: {e.code} {message}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ClientError(f"cannot reach the daemon at {_base_url(args)}: {getattr(e, 'reason', e)}", 2) from None
    return payload.get("data")


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


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a bare container
        return "cli"


def main(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ClientError as e:
        print(f"watchdog {args.command}: {e}", file=sys.stderr)
        return e.code


def _run(args: argparse.Namespace) -> int:
    if args.command == "alerts":
        return _alerts(args)
    if args.command == "ack":
        body: dict[str, Any] = {"by": args.by or _user(), "comment": args.comment}
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
                                "createdBy": args.author or _user()}
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
