"""Pure grouping decisions: group keys, timing, Alertmanager's dedup rule."""

from __future__ import annotations

from watchdog.alerting.grouping import (
    GroupTiming,
    RouteTarget,
    drop_flushed_resolved,
    expire_unrefreshed,
    flush,
    group_key,
    group_labels_for,
    merge_alerts,
    needs_update,
    new_group,
    resolve_alert,
)
from watchdog.model import Alert, AlertState, Labels
from watchdog.state.base import NotificationRecord

T0 = 1_700_000_000.0
TARGET = RouteTarget("{}", "oncall", ("alertname",), GroupTiming(30, 300, 3600))


def firing(t: float = T0, **labels: str) -> Alert:
    return Alert(labels=Labels.of(labels), annotations={}, state=AlertState.FIRING, active_at=t, fired_at=t)


def test_group_key_and_labels():
    labels = Labels.of(alertname="DemoServiceDown", target="demo", job="x")
    assert group_labels_for(labels, ["alertname"]) == Labels.of(alertname="DemoServiceDown")
    assert group_labels_for(labels, ["..."]) == labels
    assert group_labels_for(labels, []) == Labels()
    assert group_labels_for(labels, ["missing"]) == Labels()
    assert group_key("{}", Labels.of(alertname="A", job='q"x')) == '{}:{alertname="A", job="q\\"x"}'
    assert group_key("{}", Labels()) == "{}:{}"


def test_first_flush_after_group_wait_then_every_interval():
    g = new_group(TARGET, Labels.of(alertname="A"), T0)
    g = merge_alerts(g, [firing(alertname="A")], T0)
    assert g.next_flush_at == T0 + 30
    g, snapshot = flush(g, T0 + 30)
    assert [a.name for a in snapshot] == ["A"]
    assert g.next_flush_at == T0 + 330 and g.has_flushed


def test_old_alert_flushes_at_once_but_only_before_first_flush():
    g = new_group(TARGET, Labels.of(alertname="A"), T0 + 100)
    g = merge_alerts(g, [firing(T0, alertname="A")], T0 + 100)
    assert g.next_flush_at == T0 + 100
    g, _ = flush(g, T0 + 100)
    g = merge_alerts(g, [firing(T0, alertname="A"), firing(T0, alertname="A", i="2")], T0 + 110)
    assert g.next_flush_at == T0 + 400


def test_resolved_alert_leaves_after_flush():
    g = new_group(TARGET, Labels.of(alertname="A"), T0)
    g = merge_alerts(g, [firing(alertname="A", i="1"), firing(alertname="A", i="2")], T0)
    gone = resolve_alert(firing(alertname="A", i="2"), T0 + 10)
    g = merge_alerts(g, [gone], T0 + 10)                   # a partial report resolves nothing else
    assert [a.labels.get("i") for a in g.resolved()] == ["2"] and len(g.firing()) == 1
    g, snapshot = flush(g, T0 + 30)
    g = drop_flushed_resolved(g, snapshot)
    assert [a.labels.get("i") for a in g.alerts.values()] == ["1"]
    assert set(g.last_seen) == {firing(alertname="A", i="1").fingerprint}


def test_unreported_firing_alert_resolves_after_resolve_timeout():
    g = new_group(TARGET, Labels.of(alertname="A"), T0)
    g = merge_alerts(g, [firing(alertname="A", i="1"), firing(alertname="A", i="2")], T0)
    g = merge_alerts(g, [firing(alertname="A", i="1")], T0 + 200)
    assert expire_unrefreshed(g, T0 + 299, 300) == g
    g = expire_unrefreshed(g, T0 + 300, 300)
    assert [(a.labels.get("i"), a.resolved_at) for a in g.resolved()] == [("2", T0 + 300)]
    assert [a.labels.get("i") for a in g.firing()] == ["1"]


def rec(firing=(), resolved=(), sent_at=T0):
    return NotificationRecord("k", "r", "firing" if firing else "resolved", sent_at, "", tuple(firing), tuple(resolved))


def test_needs_update_matches_alertmanager_dedup():
    kw = dict(send_resolved=True, repeat_interval=3600.0, now=T0 + 100)
    assert needs_update(None, ["a"], [], **kw)
    assert not needs_update(None, [], ["a"], **kw)                # never told: no resolved-only notice
    assert not needs_update(rec(["a"]), ["a"], [], **kw)           # unchanged, before repeat
    assert needs_update(rec(["a"]), ["a", "b"], [], **kw)          # new firing alert
    assert needs_update(rec(["a", "b"]), ["a"], ["b"], **kw)       # newly resolved, send_resolved
    assert not needs_update(rec(["a", "b"]), ["a"], ["b"], **{**kw, "send_resolved": False})
    assert needs_update(rec(["a"]), [], ["a"], **{**kw, "send_resolved": False})  # all resolved: always
    assert not needs_update(rec([], ["a"]), [], ["a"], **kw)       # resolved already told
    assert needs_update(rec(["a"], sent_at=T0 - 3500), ["a"], [], **kw)  # repeat interval passed


def test_announced_end_replaces_resolve_timeout_until_a_report_without_one():
    a, b = firing(alertname="A", i="1"), firing(alertname="A", i="2")
    g = merge_alerts(new_group(TARGET, Labels.of(alertname="A"), T0), [a, b], T0, {a.fingerprint: T0 + 60})
    assert [x.labels.get("i") for x in expire_unrefreshed(g, T0 + 59, 300).resolved()] == []
    g2 = expire_unrefreshed(g, T0 + 100, 300)
    assert [(x.labels.get("i"), x.resolved_at) for x in g2.resolved()] == [("1", T0 + 60)]   # at its endsAt
    g = merge_alerts(g, [a], T0 + 50, {a.fingerprint: T0 + 1000})          # re-sent with a later end
    assert expire_unrefreshed(g, T0 + 999, 1e9).resolved() == []
    g = merge_alerts(g, [a], T0 + 60)                                       # a report without an end: resolve_timeout again
    assert expire_unrefreshed(g, T0 + 359, 300).firing()[0].labels.get("i") == "1"
    assert sorted(x.labels.get("i") for x in expire_unrefreshed(g, T0 + 360, 300).resolved()) == ["1", "2"]
