"""`watchdog check -c config.yaml` and `watchdog check rules FILE...` (as promtool check).

Exit 0 valid, 1 invalid, 2 usage error. Errors (and warnings) go to stderr one
per line, `PATH:LINE:COL: dotted.field: message`; the summary goes to stdout.
Nothing here prints a configured value: messages come from the loaders, which
never echo secrets.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from watchdog.config.errors import ConfigError, ConfigErrors, sort_key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", nargs="?", choices=["config", "rules"], default="config",
                        help="what to check: config (default, needs -c) or rules (the FILEs given)")
    parser.add_argument("files", nargs="*", metavar="FILE", help="rule files, for `check rules`")
    parser.add_argument("-c", "--config.file", dest="config_file", metavar="FILE", help="config.yaml to check")


def main(args: argparse.Namespace) -> int:
    if args.mode == "rules":
        if not args.files:
            return _usage("check rules needs at least one FILE")
        return check_rules(args.files)
    if args.files:
        return _usage(f"unexpected arguments: {' '.join(args.files)} (did you mean `watchdog check rules FILE...`?)")
    if not args.config_file:
        return _usage("check needs -c FILE (config.yaml)")
    return check_config(args.config_file)


def check_config(path: str) -> int:
    from watchdog.config.loader import load_config

    try:
        loaded = load_config(path)
    except ConfigErrors as e:
        _print_lines(e.warnings, e.errors)
        return 1
    _print_lines(loaded.warnings, [])
    print(f"SUCCESS: {summary(loaded)}")
    return 0


def check_rules(paths: list[str]) -> int:
    from watchdog.rules.loader import load_rule_files

    failed = False
    for path in paths:
        print(f"Checking {path}")
        sys.stdout.flush()
        groups, problems = load_rule_files([path])
        errors = [p for p in problems if not p.warning]
        warnings = [p for p in problems if p.warning]
        if errors:
            failed = True
            print("  FAILED:", file=sys.stderr)
            _print_lines(warnings, errors)
            continue
        _print_lines(warnings, [])
        print(f"  SUCCESS: {sum(len(g.rules) for g in groups)} rules found")
        print()
    return 1 if failed else 0


def _print_lines(warnings: list[ConfigError], errors: list[ConfigError]) -> None:
    for item in sorted([*errors, *warnings], key=sort_key):
        print(str(item), file=sys.stderr)
    sys.stderr.flush()


def _usage(message: str) -> int:
    print(f"watchdog check: error: {message}", file=sys.stderr)
    return 2


def summary(loaded: Any) -> str:
    """'<n> targets, <n> rule groups (<n> rules), <n> remediations' (also for the daemon's startup log)."""
    rules = sum(len(group.rules) for group in loaded.rule_groups)
    return f"{len(loaded.config.targets)} targets, {len(loaded.rule_groups)} rule groups ({rules} rules), {len(loaded.remediation_specs)} remediations"
