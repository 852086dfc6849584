"""`watchdog test rules FILE...`: promtool's rule unit tests, run by our own rule manager and engine.

Follows `promtool test rules` (Prometheus 3): per test group, the input series
are loaded step by step into a fresh series store, every rule group is
evaluated at each `evaluation_interval` from the start (epoch, or
`start_timestamp`) to the latest `eval_time` by the real RuleManager on a
FakeClock (no sleeping), alerts are compared after the evaluation at or just
before their `eval_time`, then each `promql_expr_test` runs as an instant
query. Output and exit status are promtool's: `Unit Testing:  FILE`, then
`  SUCCESS` or `  FAILED:` and the failures as exp/got (exit 0 only if all pass).

Native histograms are not supported. By default a test that uses them fails
with a message saying so; `--skip-unsupported` skips those series and
expectations instead and names each one (`UNSUPPORTED:` lines).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import importlib
import logging
import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Sequence

from watchdog.config.yamlpos import load_yaml_file, validate
from watchdog.model import AlertState, Labels
from watchdog.promql import Engine, PromQLError
from watchdog.rules.loader import load_rule_files
from watchdog.rules.manager import RuleManager
from watchdog.rules.model import AlertingRule
from watchdog.rules.seriesdesc import SeriesDescError, UnsupportedSeries, parse_series_labels, parse_values
from watchdog.rules.unittest_format import (
    TestGroup, UnitTestFile, alerts_string, go_duration, go_quote, indent_lines, labels_key,
    model_duration, samples_string,
)
from watchdog.testing.fakeclock import FakeClock
from watchdog.tsdb.store import SeriesStore

DEFAULT_EVALUATION_INTERVAL = 60.0
# a test of a day at 1s intervals is 86,400 rule rounds; far beyond that is a typo
MAX_EVALUATIONS = 1_000_000


@dataclass
class Outcome:
    errors: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)   # what was skipped, each named


@dataclass(frozen=True)
class Options:
    run: re.Pattern[str] | None = None          # promtool --run: only test groups whose name matches
    ignore_unknown_fields: bool = False         # promtool --ignore-unknown-fields (rule files)
    skip_unsupported: bool = False              # skip native-histogram parts instead of failing


class _DiscardStore:
    """The manager's persistence is not part of a unit test: states live in memory only."""

    async def save_alerts(self, records) -> None:
        pass

    async def delete_alerts(self, keys) -> None:
        pass

    async def append_event(self, event) -> int:
        return 0

    async def load_alerts(self) -> list:
        return []

    async def kv_get(self, key: str) -> str | None:
        return None

    async def kv_set(self, key: str, value: str | None) -> None:
        pass


def run_file(path: str, options: Options = Options()) -> Outcome:
    """Run every test group of one unit-test file."""
    doc = load_yaml_file(path, env=False)
    if doc.errors:
        return Outcome([str(e) for e in doc.errors])
    spec, errors = validate(UnitTestFile, doc.data if doc.data is not None else {}, doc)
    if spec is None:
        return Outcome([str(e) for e in errors])
    base = os.path.dirname(path)
    rule_files: list[str] = []
    for pattern in spec.rule_files or []:
        full = pattern if not pattern or os.path.isabs(pattern) else os.path.join(base, pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            print("  WARNING: no file match pattern", full, file=sys.stderr)
        rule_files.extend(matches)
    eval_interval = spec.evaluation_interval or DEFAULT_EVALUATION_INTERVAL
    order: dict[str, int] = {}
    for i, name in enumerate(spec.group_eval_order or []):
        if name in order:
            return Outcome([f"group name repeated in evaluation order: {name}"])
        order[name] = i
    outcome = Outcome()
    for tg in spec.tests or []:
        tg = tg or TestGroup()
        if options.run is not None and not options.run.search(tg.name):
            continue
        if not tg.interval:
            tg = tg.model_copy(update={"interval": eval_interval})
        one = asyncio.run(_run_group(tg, rule_files, eval_interval, order, spec.fuzzy_compare, options))
        outcome.errors.extend(one.errors)
        outcome.unsupported.extend(one.unsupported)
    return outcome


def _load_series(tg: TestGroup, options: Options, outcome: Outcome) -> list[tuple[float, Labels, float]] | None:
    samples: list[tuple[float, Labels, float]] = []
    for item in tg.input_series or []:
        try:
            labels = parse_series_labels(item.series)
            values = parse_values(item.values)
        except UnsupportedSeries as e:
            if not options.skip_unsupported:
                outcome.errors.append(f"    series: {item.series}: {e}")
                return None
            outcome.unsupported.append(f"input series {item.series}: {e}")
            continue
        except SeriesDescError as e:
            outcome.errors.append(f"    series: {item.series}: {e}")
            return None
        for i, v in enumerate(values):
            if v is not None:
                samples.append((tg.start_timestamp + i * tg.interval, labels, v))
    samples.sort(key=lambda s: s[0])
    return samples


async def _run_group(
    tg: TestGroup, rule_files: list[str], eval_interval: float, order: dict[str, int], fuzzy: bool, options: Options
) -> Outcome:
    outcome = Outcome()
    samples = _load_series(tg, options, outcome)
    if samples is None:
        return outcome
    groups, load_errors = load_rule_files(rule_files, ignore_unknown_fields=options.ignore_unknown_fields)
    if load_errors:
        outcome.errors.extend(str(e) for e in load_errors)
        return outcome
    groups = sorted(groups, key=lambda g: order.get(g.name, 0))   # stable: file order otherwise

    mint = tg.start_timestamp
    alert_tests = tg.alert_rule_test or []
    for case in alert_tests:
        if not case.alertname:
            where = f" (in TestGroup {tg.name})" if tg.name else ""
            outcome.errors.append(
                f"an item under alert_rule_test misses required attribute alertname at eval_time {model_duration(case.eval_time)}{where}"
            )
            return outcome
    max_eval = max([c.eval_time for c in alert_tests] + [c.eval_time for c in tg.promql_expr_test or []] + [0.0])
    steps = int(math.floor(max_eval / eval_interval + 1e-9)) + 1
    if steps > MAX_EVALUATIONS:
        outcome.errors.append(f"    {steps} rule evaluations needed (eval_time / evaluation_interval); at most {MAX_EVALUATIONS}")
        return outcome

    n_evals = steps + len(samples)
    store = SeriesStore(retention=math.inf, max_samples_per_series=max(4096, n_evals + 16))
    engine = Engine(store)
    engine.subquery_step = eval_interval
    clock = FakeClock(mint)
    manager = RuleManager(
        groups, engine=engine, series=store, store=_DiscardStore(), clock=clock,  # type: ignore[arg-type]
        default_interval=tg.interval, external_labels=tg.external_labels or {}, external_url=tg.external_url,
    )
    names = {r.identity: r.name for g in groups for r in g.rules if isinstance(r, AlertingRule)}
    eval_times = sorted({c.eval_time for c in alert_tests})
    next_sample = 0
    curr = 0
    for k in range(steps):
        ts = mint + k * eval_interval
        while next_sample < len(samples) and samples[next_sample][0] <= ts:
            t, labels, value = samples[next_sample]
            store.append(labels, value, t)
            next_sample += 1
        if ts > clock.now():
            clock.set(ts)
        await manager.evaluate_all(ts)
        failed = manager.failed_rules()
        if failed:
            outcome.errors.extend(f"    rule: {rule.name}, time: {go_duration(ts)}, err: {err}" for rule, err in failed)
            return outcome
        rel = ts - mint
        while curr < len(eval_times) and rel <= eval_times[curr] + 1e-9 and eval_times[curr] < rel + eval_interval - 1e-9:
            _check_alerts(tg, eval_times[curr], manager, names, outcome)
            curr += 1

    for case in tg.promql_expr_test or []:
        _check_expr(tg, case, engine, fuzzy, options, outcome)
    return outcome


def _check_alerts(tg: TestGroup, eval_time: float, manager: RuleManager, names: dict[str, str], outcome: Outcome) -> None:
    got_by_name: dict[str, list[tuple[dict[str, str], dict[str, str]]]] = {}
    for a in manager.alerts():
        if a.state is AlertState.FIRING and a.generator in names:
            got_by_name.setdefault(names[a.generator], []).append((a.labels.to_dict(), dict(a.annotations)))
    for case in tg.alert_rule_test or []:
        if case.eval_time != eval_time:
            continue
        got = sorted(got_by_name.get(case.alertname, []), key=lambda la: (labels_key(la[0]), labels_key(la[1])))
        exp = sorted(
            (({**(a.exp_labels or {}), "alertname": case.alertname}, dict(a.exp_annotations or {})) for a in case.exp_alerts or []),
            key=lambda la: (labels_key(la[0]), labels_key(la[1])),
        )
        if exp != got:
            name = f"    name: {tg.name},\n" if tg.name else ""
            pad = " " * 12
            outcome.errors.append(
                f"{name}    alertname: {case.alertname}, time: {model_duration(case.eval_time)}, \n"
                f"        exp:{indent_lines(alerts_string(exp), pad)}, \n"
                f"        got:{indent_lines(alerts_string(got), pad)}"
            )


def _check_expr(tg: TestGroup, case, engine: Engine, fuzzy: bool, options: Options, outcome: Outcome) -> None:
    head = f"    expr: {go_quote(case.expr)}, time: {model_duration(case.eval_time)}"
    expected: list[tuple[dict[str, str], float]] = []
    for s in case.exp_samples or []:
        if s.histogram:
            message = "native histogram samples (histogram:) are not supported"
            if options.skip_unsupported:
                outcome.unsupported.append(f"promql_expr_test {case.expr!r} at {model_duration(case.eval_time)}: {message}")
            else:
                outcome.errors.append(f"{head}, err: {message}")
            return
        try:
            labels = parse_series_labels(s.labels).to_dict() if s.labels.strip() else {}
        except SeriesDescError as e:
            outcome.errors.append(f"{head}, err: labels {go_quote(s.labels)}: {e}")
            return
        expected.append((labels, s.value))
    try:
        result = engine.query(case.expr, tg.start_timestamp + case.eval_time)
    except (PromQLError, ValueError) as e:
        outcome.errors.append(f"{head}, err: {e}")
        return
    if result.kind == "scalar":
        got = [({}, float(result.scalar if result.scalar is not None else math.nan))]
    elif result.kind == "vector":
        got = [(s.labels.to_dict(), s.value) for s in result.vector]
    else:
        outcome.errors.append(f"{head}, err: rule result is not a vector or scalar")
        return
    expected.sort(key=lambda s: labels_key(s[0]))
    got.sort(key=lambda s: labels_key(s[0]))
    if not _same_samples(expected, got, fuzzy):
        outcome.errors.append(f"{head},\n        exp: {samples_string(expected)}\n        got: {samples_string(got)}")


def _same_samples(exp: list[tuple[dict, float]], got: list[tuple[dict, float]], fuzzy: bool) -> bool:
    if len(exp) != len(got):
        return False
    for (el, ev), (gl, gv) in zip(exp, got):
        if el != gl:
            return False
        # promtool compares floats with ==, so NaN never equals NaN; fuzzy_compare allows one ulp
        if not (ev == gv or (fuzzy and (math.nextafter(ev, -math.inf) == gv or math.nextafter(ev, math.inf) == gv))):
            return False
    return True


# -- the command -----------------------------------------------------------------

# `watchdog test MODE ...`: mode -> "module:function"; the function takes the mode's own argv
# (everything after MODE) and returns an exit status. A new mode is one line here.
MODES: dict[str, str] = {
    "rules": "watchdog.rules.unittest:rules_main",
    "scenario": "watchdog.remediate.scenario:main_files",   # `test scenario FILE...` lives with the remediator
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", metavar="MODE", help="rules (promtool's rule unit-test files) or scenario (scenario files)")
    # the mode's own options and files, parsed in main() so they may come in any order
    parser.add_argument("rest", nargs=argparse.REMAINDER, metavar="ARGS", help="FILE... and the mode's options (MODE --help)")


def _rules_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="watchdog test rules", description="Run promtool rule unit-test files.")
    p.add_argument("files", nargs="+", metavar="FILE", help="unit-test files")
    p.add_argument("--run", action="append", default=None, metavar="REGEX",
                   help="only test groups whose name matches (repeatable; as promtool --run)")
    p.add_argument("--ignore-unknown-fields", action="store_true",
                   help="ignore keys rulefmt does not know in the rule files")
    p.add_argument("--skip-unsupported", action="store_true",
                   help="skip (and name) native-histogram series and expectations instead of failing")
    return p


def main(args: argparse.Namespace) -> int:
    target = MODES.get(args.mode)
    if target is None:
        print(f"watchdog test: unknown mode {args.mode!r}; known: {', '.join(MODES)}", file=sys.stderr)
        return 2
    module, _, function = target.partition(":")
    return int(getattr(importlib.import_module(module), function)(list(args.rest)) or 0)


def rules_main(argv: list[str]) -> int:
    """`watchdog test rules [--run REGEX] [--ignore-unknown-fields] [--skip-unsupported] FILE...`."""
    try:
        opts = _rules_parser().parse_intermixed_args(argv)
    except SystemExit as e:  # usage error (2) or --help (0)
        return int(e.code or 0)
    try:
        run = re.compile("|".join(opts.run)) if opts.run else None
    except re.error as e:
        print(f"watchdog test rules: invalid --run pattern: {e}", file=sys.stderr)
        return 2
    return run_files(opts.files, Options(run, opts.ignore_unknown_fields, opts.skip_unsupported))


def run_files(files: Sequence[str], options: Options = Options()) -> int:
    """Run the files and print as promtool does; 0 when every test passed, else 1."""
    failed = False
    quiet = logging.getLogger("watchdog.rules.manager")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)   # rule failures are reported below, as promtool does, not logged
    try:
        for path in files:
            failed = _run_and_print(path, options) or failed
    finally:
        quiet.setLevel(level)
    return 1 if failed else 0


def _run_and_print(path: str, options: Options) -> bool:
    """One file, printed as promtool prints it; True when it failed."""
    print("Unit Testing: ", path)
    outcome = run_file(path, options)
    for note in outcome.unsupported:
        print("  UNSUPPORTED (skipped):", note)
    if outcome.errors:
        print("  FAILED:", file=sys.stderr)
        for error in outcome.errors:
            print(error, file=sys.stderr)
            print()
    else:
        print("  SUCCESS")
    print()
    sys.stdout.flush()
    return bool(outcome.errors)


__all__ = ["MODES", "Options", "Outcome", "add_arguments", "main", "rules_main", "run_file", "run_files"]
