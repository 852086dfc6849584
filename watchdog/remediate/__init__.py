"""Remediation: specs, guardrails, action runners, verification.

`spec` loads `remediations/*.yml`; `guardrails` decides (pure) whether a run
may start; `command` (and later http/systemd/docker) runs an action;
`remediator` ties them together, records every run and verifies the fix.
"""
