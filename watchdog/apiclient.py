"""The one client the CLI's daemon commands use to talk to the running daemon's API.

The address comes from `--url`, else from `api.listen` in `-c FILE` (default config.yaml; a
wildcard listen address means this machine), else http://127.0.0.1:9797. The token comes from
`--token-file` or `$WATCHDOG_TOKEN` and is only ever sent as a bearer header, never printed.
Answers are the API's JSON envelope (`{"status": "success", "data": ...}` or `{"error": ...}`).

Exit codes shared by every client command: 0 done, 1 the daemon refused or failed, 2 usage or
connection error. `ClientError.code` carries that exit code.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any, Callable

DEFAULT_URL = "http://127.0.0.1:9797"
TIMEOUT = 10.0


class ClientError(Exception):
    """A call that did not succeed. `code`: the exit code; `status`: the HTTP status when the daemon
    answered (None when it could not be reached); `detail`: the daemon's own error message."""

    def __init__(self, message: str, code: int = 1, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.detail = detail


def command_name(parser: argparse.ArgumentParser) -> str:
    """The subcommand a parser was made for (`watchdog ack` -> "ack"): one module serves several."""
    return parser.prog.split()[-1]


def add_client_arguments(parser: argparse.ArgumentParser, *, json: bool = False, config_help: str | None = None) -> None:
    """`-c/--config`, `--url`, `--token-file` (and `--json` when the command can print the raw answer)."""
    parser.add_argument("-c", "--config", default="config.yaml", metavar="FILE",
                        help=config_help or "config.yaml (for api.listen)")
    parser.add_argument("--url", default=None, help="the daemon's API, e.g. http://127.0.0.1:9797")
    parser.add_argument("--token-file", default=None, help="file holding the API token (default: $WATCHDOG_TOKEN)")
    if json:
        parser.add_argument("--json", action="store_true", help="print the API's answer as JSON")


def base_url(args: argparse.Namespace) -> str:
    """The daemon's API address, without a trailing slash."""
    if args.url:
        return str(args.url).rstrip("/")
    listen = _configured_listen(args.config)
    if not listen:
        return DEFAULT_URL
    host, _, port = listen.rpartition(":")
    host = host or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def _configured_listen(path: str) -> str:
    """`api.listen` of the config file, or "" when the file is missing or unreadable (the default applies)."""
    try:
        import yaml

        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        return str(((data.get("api") or {}).get("listen")) or "")
    except Exception:  # missing file, YAML error, odd shape: the default address, as documented
        return ""


def token(args: argparse.Namespace) -> str | None:
    """The API token; raises ClientError (exit 2) when --token-file cannot be read."""
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as f:
                return f.read().strip() or None
        except OSError as e:
            raise ClientError(f"cannot read --token-file: {e.strerror or e}", 2) from None
    return os.environ.get("WATCHDOG_TOKEN") or None


def call(args: argparse.Namespace, method: str, path: str, body: Any = None, timeout: float = TIMEOUT) -> Any:
    """One API call; returns `data` of the success envelope.

    Raises ClientError: exit code 1 with `status` when the daemon answered an error
    ("METHOD PATH: STATUS MESSAGE"), exit code 2 when it could not be reached or the token file is unreadable."""
    bearer = token(args)
    base = base_url(args)
    headers = {"Accept": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            payload = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read() or b"{}").get("error") or e.reason
        except (ValueError, AttributeError):
            detail = e.reason
        raise ClientError(f"{method} {path}: {e.code} {detail}", status=e.code, detail=str(detail)) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ClientError(f"cannot reach the daemon at {base}: {getattr(e, 'reason', e)}", 2) from None
    return payload.get("data") if isinstance(payload, dict) else None


def current_user() -> str:
    """Who is acting, for `by`/`createdBy` fields when the command does not say."""
    try:
        return getpass.getuser()
    except Exception:  # no user name in a bare container
        return "cli"


def run_reporting_errors(args: argparse.Namespace, run: Callable[[argparse.Namespace], int]) -> int:
    """Run a client command; a ClientError is printed as `watchdog COMMAND: message` and becomes its exit code."""
    try:
        return run(args)
    except ClientError as e:
        print(f"watchdog {args.command}: {e}", file=sys.stderr)
        return e.code
