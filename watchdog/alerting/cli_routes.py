"""`watchdog routes test`: answers like `amtool config routes test`.

    watchdog routes test --config.file=FILE [--verify.receivers=a,b] label=value ...

FILE (also `-c`) is our config.yaml or a plain Alertmanager config. The
receivers of every matching route are printed comma-separated in tree order;
with `--verify.receivers` a mismatch prints amtool's warning and exits 1.
Exit 2 on a usage error or an invalid config (its located errors on stderr).
"""

from __future__ import annotations

import argparse
import sys

from watchdog.alerting.matchers import MatchType, parse_matchers
from watchdog.config.errors import ConfigErrors
from watchdog.model import Labels

MISMATCH_WARNING = "WARNING: Expected receivers did not match resolved receivers."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="routes_command", metavar="SUBCOMMAND")
    test = sub.add_parser("test", help="print the receivers an alert with these labels is routed to")
    test.add_argument("-c", "--config.file", "--config", dest="config_file", default="config.yaml", metavar="FILE",
                      help="config.yaml or an Alertmanager config file (default: config.yaml)")
    test.add_argument("--verify.receivers", dest="verify", default=None, metavar="A,B",
                      help="expected receivers, comma-separated, in order; exit 1 when they differ")
    test.add_argument("--tree", action="store_true", help="also print the routing tree with the matching routes marked")
    test.add_argument("labels", nargs="*", metavar="label=value", help="the alert's labels")


def parse_label_args(items: list[str]) -> Labels:
    pairs: dict[str, str] = {}
    for item in items:
        for m in parse_matchers(item):
            if m.op is not MatchType.EQUAL:
                raise ValueError(f"{item!r}: labels are given as name=value")
            pairs[m.name] = m.value
    return Labels.of(pairs)


def main(args: argparse.Namespace) -> int:
    if getattr(args, "routes_command", None) != "test":
        print("usage: watchdog routes test --config.file=FILE [--verify.receivers=a,b] label=value ...", file=sys.stderr)
        return 2
    from watchdog.alerting.load import load_routing
    from watchdog.alerting.routing import RouteTree

    try:
        labels = parse_label_args(args.labels)
    except ValueError as e:
        print(f"watchdog routes test: {e}", file=sys.stderr)
        return 2
    try:
        source = load_routing(args.config_file)
    except ConfigErrors as e:
        for err in e.errors:
            print(err, file=sys.stderr)
        return 2
    tree = RouteTree(source.alerting.route)
    matched = tree.match(labels)
    receivers = [n.receiver for n in matched]
    if args.tree:
        keys = {n.key for n in matched}
        for node in tree.nodes():
            depth = node.key.count("/")
            mark = "*" if node.key in keys else " "
            print(f"{mark} {'  ' * depth}{node.key.rsplit('/', 1)[-1]}  receiver: {node.receiver}")
    print(",".join(receivers))
    if args.verify is not None:
        expected = [r.strip() for r in args.verify.split(",") if r.strip()]
        if expected != receivers:
            print(MISMATCH_WARNING)
            return 1
    return 0
