"""`watchdog routes test`: answers like `amtool config routes test`.

    watchdog routes test --config.file=FILE [--verify.receivers=a,b] label=value ...

FILE (also `-c`) is our config.yaml or a plain Alertmanager config. The
receivers of every matching route are printed comma-separated in tree order;
with `--verify.receivers` a mismatch prints amtool's warning and exits 1.
`--tree` first prints the matching part of the tree as amtool does ("Matching
routes:", treeprint's box drawing, the routes' matchers as Alertmanager prints
them, the receiver on the routes that deliver). As amtool, exit 1 on an invalid
config (its located errors on stderr) or labels that are not name=value.
"""

from __future__ import annotations

import argparse
import sys

from typing import Any

from watchdog.alerting.matchers import Matcher, MatchType, matches_all, parse_matchers
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
        print(f"watchdog routes test: failed to parse labels: {e}", file=sys.stderr)
        return 1
    try:
        source = load_routing(args.config_file)
    except ConfigErrors as e:
        for err in e.errors:
            print(err, file=sys.stderr)
        return 1
    tree = RouteTree(source.alerting.route)
    receivers = tree.receivers(labels)
    if args.tree:
        print("Matching routes:")
        print("\n".join(matching_tree_lines(source.alerting.route, labels)))
        print("\n")
    print(",".join(receivers))
    if args.verify is not None:
        expected = [r.strip() for r in args.verify.split(",") if r.strip()]
        if expected != receivers:
            print(MISMATCH_WARNING)
            return 1
    return 0


# -- `--tree`: amtool's printMatchingTree ----------------------------------------------------


def amtool_matchers(route: Any) -> list[Matcher]:
    """A route's matchers as Alertmanager holds them: legacy `match_re` values anchored (`^(?:re)$`), sorted."""
    out = parse_matchers(route.matchers)
    out += [Matcher.create(k, MatchType.EQUAL, v) for k, v in route.match.items()]
    out += [Matcher.create(k, MatchType.REGEX, f"^(?:{v})$") for k, v in route.match_re.items()]
    order = list(MatchType)
    return sorted(out, key=lambda m: (m.name, m.value, order.index(m.op)))


def _slug(route: Any, receiver: bool) -> str:
    matchers = amtool_matchers(route)
    text = "{" + ",".join(str(m) for m in matchers) + "}" if matchers else "default-route"
    return f"{text}  receiver: {route.receiver}" if receiver else text


def _matching_branch(route: Any, labels: Labels) -> tuple[str, list]:
    children = []
    for child in route.routes:
        if matches_all(child.all_matchers(), labels):
            children.append(_matching_branch(child, labels))
            if not child.continue_:
                break
    return _slug(route, receiver=not children), children


def matching_tree_lines(root: Any, labels: Labels) -> list[str]:
    """The routes an alert with `labels` takes, drawn as amtool's treeprint does (root line ".").

    treeprint continues an open branch with "│" and two no-break spaces; kept byte for byte.
    """
    lines = ["."]

    def draw(node: tuple[str, list], prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└── ' if last else '├── '}{node[0]}")
        for i, child in enumerate(node[1]):
            draw(child, prefix + ("    " if last else "│\u00a0\u00a0 "), i == len(node[1]) - 1)

    draw(_matching_branch(root, labels), "", True)
    return lines
