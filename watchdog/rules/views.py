"""How rules show outside: Prometheus's /api/v1/rules shape for one rule, and metric label sets."""

from __future__ import annotations

from typing import Any, Sequence

from watchdog.model import AlertState
from watchdog.rules import metrics
from watchdog.rules.model import AlertingRule, Rule


def rule_label(rule: Rule) -> str:
    """The `rule` label of per-rule metrics: "<name>:<index in group>" (a name may repeat in a group)."""
    return f"{rule.name}:{rule.index}"


def rule_view(rs: Any) -> dict:
    """One rule as Prometheus's /api/v1/rules shows it (its field names), plus our `identity`."""
    from watchdog.api.format import alert_json, rfc3339

    rule = rs.rule
    view: dict[str, Any] = {
        "name": rule.name,
        "type": rule.kind,
        "identity": rule.identity,
        "query": rule.expr,
        "labels": dict(rule.labels),
        "health": rs.health,
        "lastError": rs.last_error,
        "evaluationTime": rs.last_duration,
        "lastEvaluation": rfc3339(rs.last_evaluation),
    }
    if isinstance(rule, AlertingRule):
        active = [a for a in rs.alerts.values() if a.state is not AlertState.RESOLVED]
        view.update({
            "duration": rule.for_,
            "keepFiringFor": rule.keep_firing_for,
            "annotations": dict(rule.annotations),
            "state": "firing" if any(a.state is AlertState.FIRING for a in active) else ("pending" if active else "inactive"),
            "alerts": [alert_json(a.to_alert(rule.identity)) for a in active],
        })
    return view


def forget_metrics(old: Sequence[tuple[str, Sequence[Rule]]], new: Sequence[tuple[str, Sequence[Rule]]]) -> None:
    """Drop the per-group and per-rule label sets of groups and rules that went away (reload).

    Each argument lists (group metric label, its rules).
    """
    kept = {(group, rule_label(rule)) for group, rules in new for rule in rules}
    kept_groups = {group for group, _ in new}
    for group, rules in old:
        for rule in rules:
            key = (group, rule_label(rule))
            if key not in kept:
                for gauge in (metrics.RULE_HEALTHY, metrics.RULE_LAST_DURATION):
                    try:
                        gauge.remove(*key)
                    except KeyError:
                        pass
        if group not in kept_groups:
            for metric in (metrics.GROUP_LAST_DURATION, metrics.GROUP_LAST_EVALUATION, metrics.GROUP_RULES, metrics.GROUP_FAILURES):
                try:
                    metric.remove(group)
                except KeyError:
                    pass
