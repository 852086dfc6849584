"""prometheus-client metrics of rule evaluation (default registry)."""

from prometheus_client import Counter, Gauge

EVALUATIONS = Counter("watchdog_rule_evaluations_total", "Rule evaluations (alerting and recording).")
EVALUATION_FAILURES = Counter(
    "watchdog_rule_evaluation_failures_total", "Rule evaluations that failed (query error, duplicate labelset, limit)."
)
TEMPLATE_ERRORS = Counter(
    "watchdog_rule_template_errors_total", "Label or annotation templates that failed to expand (the text shows the error)."
)
GROUP_LAST_DURATION = Gauge(
    "watchdog_rule_group_last_duration_seconds", "How long the last evaluation of the group took.", ["group"]
)
GROUP_ITERATIONS_MISSED = Counter(
    "watchdog_rule_group_iterations_missed_total", "Group evaluations skipped because the previous one ran late.", ["group"]
)
ALERTS = Gauge("watchdog_alerts", "Alert instances produced by rules, by state.", ["state"])
GROUP_LAST_EVALUATION = Gauge(
    "watchdog_rule_group_last_evaluation_timestamp_seconds", "When the group was last evaluated (unix seconds).", ["group"]
)
GROUP_RULES = Gauge("watchdog_rule_group_rules", "Rules in the group.", ["group"])
GROUP_FAILURES = Counter(
    "watchdog_rule_group_evaluation_failures_total", "Rule evaluations of the group that failed.", ["group"]
)
# per rule: `rule` is "<name>:<index in its group>" (a name may repeat within a group)
RULE_HEALTHY = Gauge(
    "watchdog_rule_healthy", "1 when the rule's last evaluation succeeded, 0 when it failed (see /api/v1/rules lastError).",
    ["group", "rule"],
)
RULE_LAST_DURATION = Gauge(
    "watchdog_rule_last_duration_seconds", "How long the rule's last evaluation took.", ["group", "rule"]
)
