"""`watchdog run -c FILE`: logging setup and the arguments, then the Daemon (watchdog.app) until it stops."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from watchdog.app import Daemon
from watchdog.config.models import parse_listen


class _LogfmtFormatter(logging.Formatter):
    """One line per record: `time level logger: message`, with tracebacks folded onto following lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z")


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # aiohttp's access log would log every probe of /healthz; state changes are ours to log.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="config.yaml")
    parser.add_argument("--listen", metavar="HOST:PORT", help="override api.listen")
    parser.add_argument("--storage-path", metavar="FILE", help="override storage.path (the SQLite file)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def main(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    if args.listen:
        try:
            parse_listen(args.listen)
        except ValueError as exc:
            print(f"watchdog run: --listen: {exc}", file=sys.stderr)
            return 2
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    daemon = Daemon(args.config, listen=args.listen, storage_path=args.storage_path)
    return await daemon.run()
