"""Load the routing config from a file that is either our config.yaml or a plain Alertmanager config.

Used by `watchdog routes test` and the conformance tests; the daemon itself
goes through watchdog.config.loader.load_config. Either way the same models
and the same located errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from watchdog.alerting.config import AlertingConfig, check_alerting
from watchdog.config.errors import ConfigError, ConfigErrors
from watchdog.config.yamlpos import load_yaml_file, validate


@dataclass
class RoutingSource:
    alerting: AlertingConfig
    escalation_policies: list[Any] = field(default_factory=list)
    warnings: list[ConfigError] = field(default_factory=list)


def load_routing(path: str) -> RoutingSource:
    """Raises ConfigErrors (located) when the file is invalid."""
    doc = load_yaml_file(path, env=True)
    if doc.errors and doc.data is None:
        raise ConfigErrors(list(doc.errors))
    if isinstance(doc.data, dict) and "route" in doc.data:
        return _load_alertmanager_file(path, doc)
    from watchdog.config.loader import load_config

    loaded = load_config(path)
    if loaded.alerting is None:
        raise ConfigErrors([ConfigError(path, 1, 1, "alerting", "no alerting section or alerting_file: nothing to route")])
    return RoutingSource(loaded.alerting, list(loaded.config.escalation_policies), list(loaded.warnings))


def _load_alertmanager_file(path: str, doc: Any) -> RoutingSource:
    from watchdog.config.secrets import fill_file_fields

    am, errors = validate(AlertingConfig, doc.data, doc)
    errors = list(doc.errors) + list(errors)
    if am is not None:
        problems = check_alerting(am, extensions_allowed=False)
        problems += [(loc, msg, False) for loc, msg in fill_file_fields(am, os.path.dirname(path))]
        errors += [doc.error(loc, msg, warning=w) for loc, msg, w in problems]
    hard = [e for e in errors if not e.warning]
    if hard or am is None:
        raise ConfigErrors(hard, [e for e in errors if e.warning])
    return RoutingSource(am, [], [e for e in errors if e.warning])
