"""Rule files, the alert state machine and group evaluation.

Public entry points: `watchdog.rules.loader.load_rule_files`,
`watchdog.rules.model` (RuleGroup, AlertingRule, RecordingRule),
`watchdog.rules.lifecycle.step` and `watchdog.rules.manager.RuleManager`.
"""
