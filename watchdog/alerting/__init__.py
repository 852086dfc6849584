"""Alerting: Alertmanager-compatible configuration, routing, grouping, inhibition, escalation."""
