"""HTTP API: /healthz, /readyz, /metrics, /api/v1/*, /-/reload (shapes in CONTRACT.md)."""

from watchdog.api.context import ApiContext, RuleGroupView, TargetView
from watchdog.api.server import ApiServer, build_api, parse_listen

__all__ = ["ApiContext", "ApiServer", "RuleGroupView", "TargetView", "build_api", "parse_listen"]
