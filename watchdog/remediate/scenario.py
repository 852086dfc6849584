"""`watchdog test scenario FILE...`: an incident as a test, run on the real core on a fake clock.

A scenario file (shape in CONTRACT.md) gives input series in promtool
notation, events (changes, acks, silences, approvals, simulated action
results) and expectations on alerts, notifications and remediation runs. The
real RuleManager, Dispatcher and Remediator run against an in-memory SQLite
store on a FakeClock; receivers are replaced by log receivers of the same
names (nothing leaves the process) and every action is simulated: it is
prepared (rendered, refused) by its real runner, then ends with the next
`action_result` event for its remediation (exit 0 at once when none is due).

Time moves one second per step, and after every step (the clock move, the
events, the rule round, the dispatcher's due work) the runner lets every
task that step woke run until all of them wait on the fake clock again: an
action started by a rule round at t starts at t, and a notice is sent at the
time of its cause. Store calls run on the store's worker thread, so settling
also waits for those to finish (a wait for work, never for time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from watchdog.durations import parse_duration
from watchdog.model import Labels
from watchdog.remediate.base import ActionContext, ActionResult
from watchdog.remediate.runners import default_runners
from watchdog.state.sqlite import SqliteStore

START = 1_700_000_000.0
QUIET_YIELDS = 20          # loop turns without any store call in flight that count as settled
MAX_SETTLE_TURNS = 100_000  # a task spinning without ever waiting on the clock: report it, don't hang


class ScenarioError(ValueError):
    pass


@dataclass
class SimulatedRunner:
    """Real prepare() (templates, refusals); execute() waits for the scenario's action_result."""

    real: Any
    results: dict[str, list[tuple[float, dict[str, Any]]]]
    clock: Any
    started: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def prepare(self, action: Any, ctx: ActionContext) -> Any:
        return self.real.prepare(action, ctx)

    async def execute(self, prepared: Any, *, run_id: int, ctx: ActionContext, clock: Any) -> ActionResult:
        start = clock.now()
        self.started.append((start, ctx.remediation, prepared.describe()))
        queue = self.results.get(ctx.remediation, [])
        due = next((i for i, (at, _) in enumerate(queue) if at >= start), None)
        if due is None:
            return ActionResult(0, "(simulated)", False, start, start)
        at, result = queue.pop(due)
        if at > start:
            await clock.sleep(at - start)
        code = int(result.get("exit_code", 0))
        return ActionResult(code, str(result.get("output", "(simulated)")), bool(result.get("timed_out", False)), start, clock.now(),
                            error="timed out" if result.get("timed_out") else "")


class SettlingStore(SqliteStore):
    """The SQLite store, counting the calls in flight so the runner can wait until none is left."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy = 0
        self._idle: asyncio.Event | None = None

    async def _call(self, operation: str, fn: Any, *args: Any) -> Any:
        if self._idle is None:
            self._idle = asyncio.Event()
        self.busy += 1
        self._idle.clear()
        try:
            return await super()._call(operation, fn, *args)
        finally:
            self.busy -= 1
            if self.busy == 0:
                self._idle.set()

    async def settle(self) -> None:
        """Return once every task has run as far as it can without the fake clock moving.

        A task is either ready (it runs during one of our yields), waiting on a store call (we wait
        for the worker thread), or waiting on the clock or on another task's signal (quiet)."""
        quiet = turns = 0
        while quiet < QUIET_YIELDS:
            turns += 1
            if turns > MAX_SETTLE_TURNS:
                raise ScenarioError("the core never settles: a task keeps running without waiting on the clock")
            if self.busy and self._idle is not None:
                await self._idle.wait()
                quiet = 0
            else:
                await asyncio.sleep(0)
                quiet += 1


def _t(value: Any) -> float:
    return parse_duration(str(value)) if not isinstance(value, (int, float)) else float(value)


def _window(item: dict[str, Any]) -> tuple[float, float]:
    if "between" in item:
        lo, hi = item["between"]
        return _t(lo), _t(hi)
    return _t(item["at"]), _t(item["at"])


async def run_scenario(path: str) -> list[str]:
    """Run one scenario file; returns the failures (empty when it passes). Raises ScenarioError on a bad file."""
    import yaml

    from watchdog.alerting.config import AlertingConfig
    from watchdog.alerting.dispatcher import Dispatcher
    from watchdog.alerting.load import load_routing
    from watchdog.promql.engine import Engine
    from watchdog.remediate.changes import parse_change, record_change
    from watchdog.remediate.remediator import Remediator
    from watchdog.remediate.spec import load_remediation_files
    from watchdog.rules.loader import load_rule_files
    from watchdog.rules.manager import RuleManager
    from watchdog.rules.seriesdesc import parse_series_labels, parse_values
    from watchdog.testing.fakeclock import FakeClock
    from watchdog.tsdb.store import SeriesStore

    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    base = os.path.dirname(os.path.abspath(path))
    rel = lambda p: os.path.join(base, p)  # noqa: E731
    groups, errors = load_rule_files([rel(p) for p in doc.get("rule_files", [])])
    specs, spec_errors = load_remediation_files([rel(p) for p in doc.get("remediation_files", [])])
    if errors or spec_errors:
        raise ScenarioError("; ".join(str(e) for e in [*errors, *spec_errors]))
    if "alerting_file" in doc:
        alerting = load_routing(rel(doc["alerting_file"])).alerting
    else:
        alerting = AlertingConfig.model_validate(doc.get("alerting") or {"route": {"receiver": "default"}, "receivers": [{"name": "default"}]})
    receiver_model = type(alerting.receivers[0]) if alerting.receivers else None
    if receiver_model is not None:   # nothing leaves the process: every receiver becomes a log receiver of the same name
        alerting = alerting.model_copy(update={"receivers": [receiver_model.model_validate({"name": r.name, "log_configs": [{}]})
                                                             for r in alerting.receivers]})
    interval = _t(doc.get("interval", "10s"))

    clock = FakeClock(START)
    store = SettlingStore(":memory:", clock=clock)
    await store.open()
    series = SeriesStore()
    for item in doc.get("input_series", []):
        labels = parse_series_labels(item["series"])
        for i, value in enumerate(parse_values(str(item["values"]))):
            if value is not None:
                series.append(labels if isinstance(labels, Labels) else Labels.of(labels), value, START + i * interval)
    engine = Engine(series)
    from watchdog.config.models import EscalationPolicy

    policies = [EscalationPolicy.model_validate(p) for p in doc.get("escalation_policies", [])]
    dispatcher = Dispatcher(alerting, store=store, clock=clock, escalation_policies=policies)
    results: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    events = sorted(doc.get("events", []), key=lambda e: _t(e["at"]))
    for ev in events:
        if "action_result" in ev:
            results.setdefault(ev["action_result"]["remediation"], []).append((START + _t(ev["at"]), ev["action_result"]))
    runners = {kind: SimulatedRunner(real, results, clock) for kind, real in default_runners().items()}
    remediator = Remediator(specs, store=store, engine=engine, clock=clock, notify_now=dispatcher.notify_now, runners=runners)

    async def on_alerts(alerts: Any, t: float) -> None:
        await dispatcher.on_alerts(alerts, t)
        await remediator.on_alerts(alerts, t)

    rules = RuleManager(groups, engine=engine, series=series, store=store, clock=clock, on_alerts=on_alerts, default_interval=interval)
    expects = doc.get("expect", [])
    end = max([_window(e)[1] for e in expects] + [_t(e["at"]) for e in events] + [0.0]) + interval
    alert_states: dict[float, list[Any]] = {}
    pending_events = list(events)
    failures: list[str] = []
    step = 1.0
    try:
        t = 0.0
        # past the last expectation, keep going while an action or its verification is still running
        while t <= end or (remediator.in_flight() and t <= end + 600):
            clock.set(START + t)
            await store.settle()   # what the clock woke (actions, verifications, waits) runs at this t
            while pending_events and _t(pending_events[0]["at"]) <= t:
                failures += await _apply(pending_events.pop(0), store, clock, dispatcher, remediator, parse_change, record_change)
            await store.settle()
            if t % interval == 0:
                await rules.evaluate_all(START + t)
                await store.settle()   # actions this round started begin now, not at the next step
            alert_states[t] = list(rules.alerts())
            await dispatcher.process_due()
            await store.settle()
            t += step
        await remediator.drain(0)
        failures += await _check(expects, alert_states, store, runners)
    finally:
        await dispatcher.close()
        await store.close()
    return failures


async def _apply(ev: dict[str, Any], store: Any, clock: Any, dispatcher: Any, remediator: Any, parse_change: Any, record_change: Any) -> list[str]:
    if "change" in ev:
        await record_change(store, parse_change(ev["change"], now=clock.now(), by="scenario"), clock)
    elif "ack" in ev:
        ack = dict(ev["ack"])
        by, comment = str(ack.pop("by", "scenario")), str(ack.pop("comment", ""))
        keys = dispatcher.group_keys_for(Labels.of(ack))
        if not keys:
            return [f"at {ev['at']}: no alert group to acknowledge for {ack}"]
        for key in keys:
            await dispatcher.acknowledge(key, by, comment)
    elif "silence" in ev:
        s = ev["silence"]
        await dispatcher.add_silence(list(s["matchers"]), clock.now(), clock.now() + _t(s.get("duration", "1h")), "scenario", "")
    elif "approve" in ev:
        name = ev["approve"]["remediation"]
        runs = [r for r in remediator.awaiting_approval() if r.spec == name]
        if not runs:
            return [f"at {ev['at']}: no run of {name} awaits approval"]
        await remediator.approve(runs[0].id, ev["approve"].get("by", "scenario"))
    return []


async def _check(expects: list[dict[str, Any]], alert_states: dict[float, list[Any]], store: Any, runners: dict[str, SimulatedRunner]) -> list[str]:
    failures = []
    sent = [(e.time - START, e.data) for e in await store.events(kinds=["notification.sent"])]
    escalations = [(e.time - START, e.data) for e in await store.events(kinds=["escalation.level"])]
    runs = await store.runs(limit=10_000)
    for item in expects:
        lo, hi = _window(item)
        if "alert" in item:
            want = dict(item["alert"])
            state = want.pop("state", "firing")
            seen = alert_states.get(lo, [])
            if not any(a.state.value == state and all(a.labels.get(k) == v for k, v in want.items()) for a in seen):
                failures.append(f"at {lo:g}s: expected alert {want} {state}; have {[(a.labels.to_dict(), a.state.value) for a in seen]}")
        elif "notification" in item:
            want = item["notification"]
            found = any(lo <= t <= hi and d.get("receiver") == want["receiver"] and d.get("status", "firing") == want.get("status", "firing")
                        for t, d in sent)
            notice = f"{want.get('status', 'firing')} notice to {want['receiver']}"
            listed = f"sent {[(t, d.get('receiver'), d.get('status')) for t, d in sent]}"
            failures += _presence(want, found, lo, hi, f"no {notice}; {listed}", f"a {notice}; {listed}")
        elif "remediation" in item:
            want = item["remediation"]
            match = [r for r in runs if r.spec == want["name"] and lo <= r.created_at - START <= hi
                     and all(a in (r.action.get("argv") or []) for a in want.get("argv_contains", []))
                     and ("outcome" not in want or r.status == want["outcome"])]
            failures += _presence(want, bool(match), lo, hi,
                                  f"no run of {want['name']}; found {[(r.id, r.status, r.action.get('argv')) for r in match]}",
                                  f"remediation {want}; runs {[(r.spec, r.created_at - START, r.status, r.action.get('argv')) for r in runs]}")
        elif "escalation" in item:
            failures += _check_escalation(item["escalation"], lo, hi, escalations)
        else:
            failures.append(f"unknown expectation {sorted(item)}")
    return failures


def _check_escalation(want: dict[str, Any], lo: float, hi: float, escalations: list[tuple[float, dict[str, Any]]]) -> list[str]:
    """`escalation: {level, policy?, receivers?, group?: {label: value}, absent?}` against `escalation.level` events."""
    group = dict(want.get("group") or {})
    match = [(t, d) for t, d in escalations
             if lo <= t <= hi and d.get("level") == int(want["level"])
             and ("policy" not in want or d.get("policy") == want["policy"])
             and all(r in d.get("receivers", []) for r in want.get("receivers", []))
             and all(d.get("labels", {}).get(k) == v for k, v in group.items())]
    what = f"escalation to level {want['level']}" + (f" of {want['policy']}" if "policy" in want else "")
    seen = [(t, d.get("policy"), d.get("level"), d.get("receivers")) for t, d in escalations]
    return _presence(want, bool(match), lo, hi, f"no {what}; escalations {seen}", f"{what} {want}; escalations {seen}")


def _presence(want: dict[str, Any], found: bool, lo: float, hi: float, if_absent: str, if_present: str) -> list[str]:
    """An expectation of something in a window, or with `absent: true` of nothing: the failure, if any."""
    if want.get("absent"):
        return [f"between {lo:g}s and {hi:g}s: expected {if_absent}"] if found else []
    return [] if found else [f"between {lo:g}s and {hi:g}s: expected {if_present}"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="scenario files")


def main_files(files: list[str]) -> int:
    """`watchdog test scenario FILE...` (the `test` command's dispatch hook)."""
    if not files or any(f.startswith("-") for f in files):
        print("usage: watchdog test scenario FILE...", file=sys.stderr)
        return 2
    return main(argparse.Namespace(files=list(files)))


def main(args: argparse.Namespace) -> int:
    """Exit 0 when every scenario passes, 1 when one fails, 2 when a file is unusable."""
    status = 0
    for path in args.files:
        try:
            failures = asyncio.run(run_scenario(path))
        except (OSError, ScenarioError, KeyError, ValueError, TypeError) as e:
            print(f"{path}: cannot run: {type(e).__name__}: {e}", file=sys.stderr)
            status = 2
            continue
        if failures:
            status = max(status, 1)
            print(f"{path}: FAILED", file=sys.stderr)
            for failure in failures:
                print(f"  {failure}", file=sys.stderr)
        else:
            print(f"{path}: SUCCESS")
    return status
