"""The alert state machine of one alerting rule, as a pure function.

`step(previous, samples, rule, t, render)` follows Prometheus's
AlertingRule.Eval: every sample of the rule's result is one alert instance,
keyed by the fingerprint of its labels (sample labels minus `__name__`, plus
the rule's templated labels, plus `alertname`).

- new -> pending (active_at = t); pending for >= `for` -> firing (fired_at = t);
  `for: 0` fires at once (one `alert.firing` transition, no `alert.pending`);
- an instance missing from the result resolves (resolved_at = t) if it was
  firing, unless `keep_firing_for` holds it firing a while longer; a pending
  one that disappears is dropped without a "resolved";
- resolved instances are kept RESOLVED_RETENTION (15 min) for notifications
  and the API, then forgotten; if the condition returns, a new pending
  instance starts;
- annotations are re-rendered at every evaluation with the current value.

Nothing here reads the clock or does I/O; the manager persists the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from watchdog.model import Alert, AlertState, Labels, Sample
from watchdog.rules.model import AlertingRule
from watchdog.state.base import AlertRecord

RESOLVED_RETENTION = 15 * 60.0

# render(text, sample_labels, value) -> expanded text; raises TemplateError (or any error) on failure
Render = Callable[[str, Mapping[str, str], float], str]


@dataclass(frozen=True)
class AlertInstance:
    labels: Labels                          # includes alertname
    annotations: Mapping[str, str]
    state: AlertState                       # PENDING, FIRING or RESOLVED
    active_at: float
    value: float = math.nan
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_firing_since: float | None = None
    last_evaluated: float = 0.0

    @property
    def fingerprint(self) -> str:
        return self.labels.fingerprint()

    def to_alert(self, generator: str = "", generator_url: str = "") -> Alert:
        return Alert(
            labels=self.labels,
            annotations=dict(self.annotations),
            state=self.state,
            active_at=self.active_at,
            value=self.value,
            fired_at=self.fired_at,
            resolved_at=self.resolved_at,
            generator=generator,
            generator_url=generator_url,
        )

    def to_record(self, rule: str, updated_at: float) -> AlertRecord:
        return AlertRecord(
            rule=rule,
            fingerprint=self.fingerprint,
            labels=self.labels.to_dict(),
            annotations=dict(self.annotations),
            state=self.state.value,
            active_at=self.active_at,
            fired_at=self.fired_at,
            resolved_at=self.resolved_at,
            value=None if math.isnan(self.value) else self.value,
            keep_firing_since=self.keep_firing_since,
            updated_at=updated_at,
        )

    @classmethod
    def from_record(cls, record: AlertRecord) -> "AlertInstance":
        return cls(
            labels=Labels.of(record.labels),
            annotations=dict(record.annotations),
            state=AlertState(record.state),
            active_at=record.active_at,
            value=math.nan if record.value is None else record.value,
            fired_at=record.fired_at,
            resolved_at=record.resolved_at,
            keep_firing_since=record.keep_firing_since,
            last_evaluated=record.updated_at,
        )


@dataclass(frozen=True)
class Transition:
    kind: str                 # "alert.pending" | "alert.firing" | "alert.resolved"
    alert: AlertInstance

    def event_data(self, rule: str) -> dict:
        """The timeline event's data (JSON-serialisable)."""
        a = self.alert
        return {
            "rule": rule,
            "fingerprint": a.fingerprint,
            "labels": a.labels.to_dict(),
            "annotations": dict(a.annotations),
            "value": None if math.isnan(a.value) or math.isinf(a.value) else a.value,
            "active_at": a.active_at,
        }


@dataclass(frozen=True)
class StepResult:
    alerts: dict[str, AlertInstance]                    # by fingerprint: pending, firing, recently resolved
    transitions: list[Transition] = field(default_factory=list)
    template_errors: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)  # fingerprints to delete from the store
    changed: list[str] = field(default_factory=list)    # fingerprints whose persisted state changed
    error: str | None = None                            # the evaluation failed as a whole (state kept)

    def series(self, t: float) -> list[tuple[Labels, float]]:
        """`ALERTS` and `ALERTS_FOR_STATE` samples for the active (pending/firing) alerts."""
        out: list[tuple[Labels, float]] = []
        for a in self.alerts.values():
            if a.state in (AlertState.PENDING, AlertState.FIRING):
                out.append((a.labels.merged({"__name__": "ALERTS", "alertstate": a.state.value}), 1.0))
                out.append((a.labels.merged({"__name__": "ALERTS_FOR_STATE"}), float(a.active_at)))
        return out


def _expand(text: str, sample_labels: Mapping[str, str], value: float, render: Render, errors: list[str]) -> str:
    if "{{" not in text:
        return text
    try:
        return render(text, sample_labels, value)
    except Exception as e:  # a template error is data, never a crash
        errors.append(str(e))
        return f"<error expanding template: {e}>"


def step(
    previous: Mapping[str, AlertInstance],
    samples: list[Sample],
    rule: AlertingRule,
    t: float,
    render: Render,
    *,
    limit: int = 0,
) -> StepResult:
    """One evaluation of `rule` at `t` whose query returned `samples`."""
    template_errors: list[str] = []
    found: dict[str, tuple[Labels, dict[str, str], float]] = {}
    for s in samples:
        sample_labels = s.labels.to_dict()
        labels = dict(s.labels.without_name())
        for name, text in rule.labels.items():
            value = _expand(text, sample_labels, s.value, render, template_errors)
            if value == "":
                labels.pop(name, None)
            else:
                labels[name] = value
        labels["alertname"] = rule.name
        alert_labels = Labels.of(labels)
        annotations = {k: _expand(v, sample_labels, s.value, render, template_errors) for k, v in rule.annotations.items()}
        fp = alert_labels.fingerprint()
        if fp in found:
            return StepResult(dict(previous), error="vector contains metrics with the same labelset after applying alert labels")
        found[fp] = (alert_labels, annotations, s.value)

    alerts: dict[str, AlertInstance] = {}
    transitions: list[Transition] = []
    forgotten: list[str] = []
    changed: list[str] = []

    for fp, (labels, annotations, value) in found.items():
        old = previous.get(fp)
        if old is not None and old.state in (AlertState.PENDING, AlertState.FIRING):
            a = replace(old, annotations=annotations, value=value, keep_firing_since=None, last_evaluated=t)
            if old.keep_firing_since is not None:
                changed.append(fp)
        else:
            a = AlertInstance(labels, annotations, AlertState.PENDING, active_at=t, value=value, last_evaluated=t)
            changed.append(fp)
        if a.state is AlertState.PENDING and t - a.active_at >= rule.for_:
            a = replace(a, state=AlertState.FIRING, fired_at=t)
            transitions.append(Transition("alert.firing", a))
            if fp not in changed:
                changed.append(fp)
        elif old is None or old.state is AlertState.RESOLVED:
            transitions.append(Transition("alert.pending", a))
        alerts[fp] = a

    for fp, old in previous.items():
        if fp in found:
            continue
        if old.state is AlertState.FIRING:
            since = old.keep_firing_since if old.keep_firing_since is not None else t
            if rule.keep_firing_for > 0 and t - since < rule.keep_firing_for:
                alerts[fp] = replace(old, keep_firing_since=since, last_evaluated=t)
                if old.keep_firing_since is None:
                    changed.append(fp)
                continue
            resolved = replace(old, state=AlertState.RESOLVED, resolved_at=t, keep_firing_since=None, last_evaluated=t)
            alerts[fp] = resolved
            transitions.append(Transition("alert.resolved", resolved))
            changed.append(fp)
        elif old.state is AlertState.RESOLVED and old.resolved_at is not None and t - old.resolved_at <= RESOLVED_RETENTION:
            alerts[fp] = old
        else:  # a pending alert that vanished, or a resolved one past retention
            forgotten.append(fp)

    active = sum(1 for a in alerts.values() if a.state is not AlertState.RESOLVED)
    if limit > 0 and active > limit:
        return _over_limit(previous, alerts, t, limit, active, template_errors)
    return StepResult(alerts, transitions, template_errors, forgotten, changed)


def _over_limit(
    previous: Mapping[str, AlertInstance], alerts: dict[str, AlertInstance], t: float, limit: int, active: int, template_errors: list[str]
) -> StepResult:
    """Prometheus drops every alert of a rule over its limit; we resolve the firing ones
    so that a firing notice that went out is always followed by a resolved one."""
    kept: dict[str, AlertInstance] = {}
    transitions: list[Transition] = []
    forgotten: list[str] = []
    changed: list[str] = []
    for fp, a in alerts.items():
        was = previous.get(fp)
        if was is not None and was.state is AlertState.FIRING:
            r = replace(was, state=AlertState.RESOLVED, resolved_at=t, keep_firing_since=None, last_evaluated=t)
            kept[fp] = r
            transitions.append(Transition("alert.resolved", r))
            changed.append(fp)
        elif a.state is AlertState.RESOLVED:
            kept[fp] = a
            if was is None or was.state is not AlertState.RESOLVED:
                transitions.append(Transition("alert.resolved", a))
                changed.append(fp)
        elif was is not None:
            forgotten.append(fp)
    forgotten.extend(fp for fp in previous if fp not in kept and fp not in forgotten)
    return StepResult(kept, transitions, template_errors, forgotten, changed, error=f"exceeded limit of {limit} with {active} alerts")
