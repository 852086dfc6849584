"""The `watchdog` command. Subcommands live with their subsystem; this file only dispatches.

Exit codes: 0 success, 1 failure/invalid, 2 usage error (as promtool/amtool).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType
from typing import Callable, Sequence

# subcommand -> "module:function"; the function takes the parsed argparse.Namespace and returns an exit code.
# Each subsystem registers its arguments through `add_arguments(parser)` in the same module.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("watchdog.run_command", "run the daemon"),
    "check": ("watchdog.config.check", "validate config.yaml and every file it includes"),
    "demo-service": ("watchdog.demo", "run the bundled demo service"),
    "backtest": ("watchdog.detect.backtest", "run a detector over CSV files (NAB layout) and write scores"),
    "test": ("watchdog.rules.unittest", "run unit tests: `test rules FILE...` (promtool's rule unit-test format)"),
    "routes": ("watchdog.alerting.cli_routes", "test the route tree: which receivers get an alert (as amtool config routes test)"),
    "alerts": ("watchdog.alerting.cli", "list the running daemon's alerts (--groups: alert groups)"),
    "silence": ("watchdog.alerting.cli", "add, list or expire silences on the running daemon"),
    "ack": ("watchdog.alerting.cli", "acknowledge an alert group (stops escalation, pauses remediation)"),
    "unack": ("watchdog.alerting.cli", "remove an alert group's acknowledgement"),
    "remediate": ("watchdog.remediate.cli", "run a remediation by hand through its guardrails (--label k=v, --dry-run)"),
    "remediations": ("watchdog.remediate.cli", "list remediation runs and the kill switch"),
    "approve": ("watchdog.remediate.cli", "approve a remediation run that awaits approval"),
    "kill-switch": ("watchdog.remediate.cli", "turn the global remediation kill switch on or off"),
    "change": ("watchdog.remediate.cli", "record a change (deploy) event: change record --service S --version V"),
    "notify": ("watchdog.notify.cli", "notification drills: `notify test RECEIVER` sends a marked test notice"),
}


def _load(module: str) -> ModuleType:
    return importlib.import_module(module)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen subcommand's module is imported.

    Importing every subsystem just to print help would make one broken or heavy
    module (scikit-learn for backtests) break or slow `watchdog check`.
    """
    parser = argparse.ArgumentParser(prog="watchdog", description="Monitoring and self-healing daemon.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(_module=module)
        if name == command:
            _load(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on usage errors, 0 on --help
        return int(e.code or 0)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    handler: Callable[[argparse.Namespace], int] = _load(args._module).main
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
