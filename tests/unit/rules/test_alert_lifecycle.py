"""Alert state machine timelines (pure: times are plain numbers, no clock needed)."""

from __future__ import annotations

import math

from watchdog.model import AlertState, Labels, Sample
from watchdog.promql.template import render as render_template
from watchdog.rules.lifecycle import RESOLVED_RETENTION, AlertInstance, step
from watchdog.rules.model import AlertingRule

T0 = 1_700_000_000.0


def render(text, labels, value):
    return render_template(text, labels=labels, value=value)


def sample(value: float = 0.0, **labels: str) -> Sample:
    labels.setdefault("__name__", "probe_success")
    labels.setdefault("target", "demo")
    return Sample(Labels.of(labels), value, 0.0)


def rule(**kw) -> AlertingRule:
    base = dict(
        name="DemoDown",
        expr='probe_success{target="demo"} == 0',
        for_=30.0,
        labels={"severity": "critical"},
        annotations={"summary": "{{ $labels.target }} down ({{ $value }})"},
        file="rules/demo.rules.yml",
        group="demo",
        index=0,
    )
    base.update(kw)
    return AlertingRule(**base)


def run(r: AlertingRule, inputs: list[list[Sample]], interval: float = 10.0, start: float = T0):
    """Evaluate `r` once per interval; returns [(t, StepResult)]."""
    state: dict[str, AlertInstance] = {}
    out = []
    for i, samples in enumerate(inputs):
        t = start + i * interval
        res = step(state, samples, r, t, render)
        state = res.alerts
        out.append((t, res))
    return out


def kinds(results) -> list[tuple[float, str]]:
    return [(t - T0, tr.kind) for t, res in results for tr in res.transitions]


def only(res) -> AlertInstance:
    assert len(res.alerts) == 1
    return next(iter(res.alerts.values()))


def test_pending_then_firing_exactly_at_for():
    results = run(rule(), [[sample()]] * 5)
    states = [only(res).state for _, res in results]
    assert states == [AlertState.PENDING, AlertState.PENDING, AlertState.PENDING, AlertState.FIRING, AlertState.FIRING]
    assert kinds(results) == [(0.0, "alert.pending"), (30.0, "alert.firing")]
    a = only(results[3][1])
    assert a.active_at == T0 and a.fired_at == T0 + 30


def test_for_zero_fires_immediately_with_one_transition():
    results = run(rule(for_=0.0), [[sample()]])
    assert kinds(results) == [(0.0, "alert.firing")]
    assert only(results[0][1]).fired_at == T0


def test_labels_and_annotations():
    r = rule(labels={"severity": "critical", "team": "{{ $labels.service }}", "empty": "{{ $labels.nope | printf \"%s\" }}x", "gone": "{{ if false }}x{{ end }}"})
    (t, res), = run(r, [[sample(0.0, service="web", job="blackbox")]])
    a = only(res)
    assert a.labels.to_dict() == {
        "alertname": "DemoDown",
        "target": "demo",
        "service": "web",
        "job": "blackbox",
        "severity": "critical",
        "team": "web",
        "empty": "x",
    }
    assert a.annotations == {"summary": "demo down (0)"}


def test_annotations_rerendered_with_current_value():
    r = rule(expr="x > 1", annotations={"summary": "value {{ $value | humanize }}"})
    results = run(r, [[sample(1500.0)], [sample(2500000.0)]])
    assert only(results[0][1]).annotations["summary"] == "value 1.5k"
    assert only(results[1][1]).annotations["summary"] == "value 2.5M"
    assert only(results[1][1]).value == 2500000.0
    assert only(results[1][1]).active_at == T0


def test_template_error_goes_into_annotation_and_evaluation_continues():
    r = rule(annotations={"summary": "{{ humanize \"abc\" }}", "ok": "fine {{ $value }}"})
    (t, res), = run(r, [[sample()]])
    a = only(res)
    assert a.annotations["summary"].startswith("<error expanding template: error executing template template: template: template:1:4: ")
    assert "strconv.ParseFloat" in a.annotations["summary"]
    assert a.annotations["ok"] == "fine 0"
    assert len(res.template_errors) == 1 and res.error is None


def test_resolve_then_kept_for_retention_then_forgotten():
    r = rule(for_=0.0)
    state = step({}, [sample()], r, T0, render).alerts
    res = step(state, [], r, T0 + 10, render)
    a = only(res)
    assert a.state is AlertState.RESOLVED and a.resolved_at == T0 + 10 and a.fired_at == T0
    assert [tr.kind for tr in res.transitions] == ["alert.resolved"]
    kept = step(res.alerts, [], r, T0 + 10 + RESOLVED_RETENTION, render)
    assert only(kept).state is AlertState.RESOLVED and kept.transitions == []
    gone = step(kept.alerts, [], r, T0 + 20 + RESOLVED_RETENTION, render)
    assert gone.alerts == {} and gone.forgotten == [a.fingerprint] and gone.transitions == []


def test_pending_that_disappears_is_dropped_not_resolved():
    results = run(rule(), [[sample()], [sample()], []])
    assert kinds(results) == [(0.0, "alert.pending")]
    assert results[2][1].alerts == {}
    assert results[2][1].forgotten == [only(results[0][1]).fingerprint]


def test_returning_after_resolve_starts_a_new_pending_instance():
    r = rule(for_=20.0)
    results = run(r, [[sample()]] * 3 + [[]] + [[sample()]] * 3)
    assert kinds(results) == [(0.0, "alert.pending"), (20.0, "alert.firing"), (30.0, "alert.resolved"), (40.0, "alert.pending"), (60.0, "alert.firing")]
    assert only(results[4][1]).active_at == T0 + 40 and only(results[4][1]).resolved_at is None


def test_flapping_input_never_fires_when_shorter_than_for():
    inputs = [[sample()], [sample()], []] * 4
    results = run(rule(), inputs)
    assert all(tr.kind == "alert.pending" for _, res in results for tr in res.transitions)
    assert len(kinds(results)) == 4


def test_keep_firing_for_holds_then_resolves():
    r = rule(for_=0.0, keep_firing_for=25.0)
    results = run(r, [[sample()], [], [], [], [], []])
    seq = [(t - T0, only(res).state.value) for t, res in results]
    # absent since 10s: held while (t - 10) < 25, resolved at 40
    assert seq == [(0.0, "firing"), (10.0, "firing"), (20.0, "firing"), (30.0, "firing"), (40.0, "resolved"), (50.0, "resolved")]
    assert kinds(results) == [(0.0, "alert.firing"), (40.0, "alert.resolved")]
    assert only(results[2][1]).keep_firing_since == T0 + 10
    assert only(results[4][1]).keep_firing_since is None


def test_keep_firing_for_reset_when_condition_returns():
    r = rule(for_=0.0, keep_firing_for=25.0)
    results = run(r, [[sample()], [], [], [sample()], [], []])
    assert kinds(results) == [(0.0, "alert.firing")]
    assert only(results[3][1]).keep_firing_since is None
    assert only(results[5][1]).keep_firing_since == T0 + 40


def test_several_instances_tracked_independently():
    a, b = sample(target="a"), sample(target="b")
    results = run(rule(), [[a], [a, b], [a, b], [a, b], [b], [b]])
    fired = [(t - T0, tr.alert.labels.get("target"), tr.kind) for t, res in results for tr in res.transitions]
    assert fired == [
        (0.0, "a", "alert.pending"),
        (10.0, "b", "alert.pending"),
        (30.0, "a", "alert.firing"),
        (40.0, "b", "alert.firing"),
        (40.0, "a", "alert.resolved"),
    ]


def test_restore_from_record_continues_for():
    r = rule(for_=60.0)
    state = step({}, [sample()], r, T0, render).alerts
    state = step(state, [sample()], r, T0 + 30, render).alerts
    records = [a.to_record(r.identity, T0 + 30) for a in state.values()]
    # the process restarts: only the records survive
    restored = {rec.fingerprint: AlertInstance.from_record(rec) for rec in records}
    res = step(restored, [sample()], r, T0 + 50, render)
    assert only(res).state is AlertState.PENDING and res.transitions == []
    res = step(res.alerts, [sample()], r, T0 + 60, render)
    assert [tr.kind for tr in res.transitions] == ["alert.firing"]
    assert only(res).active_at == T0


def test_restored_firing_alert_does_not_fire_again():
    r = rule(for_=0.0)
    state = step({}, [sample()], r, T0, render).alerts
    rec = next(iter(state.values())).to_record(r.identity, T0)
    assert rec.state == "firing" and rec.rule == "rules/demo.rules.yml:demo:DemoDown:0"
    res = step({rec.fingerprint: AlertInstance.from_record(rec)}, [sample()], r, T0 + 10, render)
    assert res.transitions == [] and only(res).fired_at == T0


def test_duplicate_labelset_is_an_error_and_keeps_state():
    r = rule(for_=0.0)
    state = step({}, [sample(target="a")], r, T0, render).alerts
    # two series differing only in __name__ collide once __name__ is dropped
    res = step(state, [sample(target="a"), sample(target="a", __name__="other")], r, T0 + 10, render)
    assert res.error and "same labelset" in res.error
    assert res.alerts == state and res.transitions == []


def test_limit_exceeded_resolves_firing_and_reports():
    r = rule(for_=0.0)
    state = step({}, [sample(target="a")], r, T0, render).alerts
    res = step(state, [sample(target="a"), sample(target="b"), sample(target="c")], r, T0 + 10, render, limit=2)
    assert res.error == "exceeded limit of 2 with 3 alerts"
    assert [tr.kind for tr in res.transitions] == ["alert.resolved"]
    assert [a.state for a in res.alerts.values()] == [AlertState.RESOLVED]


def test_alerts_series_for_active_alerts():
    r = rule()
    res = step({}, [sample(target="a")], r, T0, render)
    series = {lbls.metric_name: (lbls, v) for lbls, v in res.series(T0)}
    lbls, v = series["ALERTS"]
    assert v == 1.0 and lbls.get("alertstate") == "pending" and lbls.get("alertname") == "DemoDown"
    lbls, v = series["ALERTS_FOR_STATE"]
    assert v == T0 and "alertstate" not in lbls
    resolved = step(step({}, [sample()], rule(for_=0.0), T0, render).alerts, [], rule(for_=0.0), T0 + 10, render)
    assert resolved.series(T0 + 10) == []


def test_event_data_is_json_ready():
    import json

    res = step({}, [sample(math.nan)], rule(for_=0.0), T0, render)
    data = res.transitions[0].event_data("x")
    assert json.loads(json.dumps(data))["value"] is None
    assert data["labels"]["alertname"] == "DemoDown"


# -- properties over arbitrary presence sequences -------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(
    presence=st.lists(st.booleans(), min_size=1, max_size=40),
    for_=st.sampled_from([0.0, 10.0, 25.0, 30.0]),
    keep=st.sampled_from([0.0, 15.0, 30.0]),
)
def test_lifecycle_invariants(presence, for_, keep):
    r = rule(for_=for_, keep_firing_for=keep)
    results = run(r, [[sample()] if p else [] for p in presence])
    last_kind = None
    for i, (t, res) in enumerate(results):
        for tr in res.transitions:
            a = tr.alert
            if tr.kind == "alert.pending":
                assert presence[i] and last_kind in (None, "alert.resolved") and a.active_at == t
            elif tr.kind == "alert.firing":
                assert last_kind in (None, "alert.pending", "alert.resolved")
                assert t - a.active_at >= for_ and a.fired_at == t
                # present at every evaluation since it became active
                first = round((a.active_at - T0) / 10)
                assert all(presence[first : i + 1])
                if for_ > 0:
                    assert last_kind == "alert.pending"
            else:
                assert tr.kind == "alert.resolved" and last_kind == "alert.firing" and not presence[i]
                # held for keep_firing_for after the condition cleared
                absent_since = i
                while absent_since > 0 and not presence[absent_since - 1]:
                    absent_since -= 1
                assert (i - absent_since) * 10 >= keep
            last_kind = tr.kind
        states = {a.state for a in res.alerts.values()}
        assert len(res.alerts) <= 1
        if presence[i]:
            assert states & {AlertState.PENDING, AlertState.FIRING}
        if AlertState.FIRING in states and not presence[i]:
            assert keep > 0
        # a pending alert that vanished leaves nothing behind
        if not presence[i] and last_kind == "alert.pending":
            assert res.alerts == {} and res.forgotten
        if not res.alerts:
            last_kind = None
