"""Cross-reference checks between config.yaml sections. Pure: (config, alerting) -> problems.

Locations are config.yaml data paths, so the loader can point at the line
where the operator wrote the name.
"""

from __future__ import annotations

from typing import Any

from watchdog.alerting.config import AlertingConfig
from watchdog.config.models import Config, RuleFileSet
from watchdog.durations import format_duration

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


def check_references(config: Config, alerting: AlertingConfig | None, valid: set[str]) -> list[Problem]:
    """Problems with names that point elsewhere.

    `valid` lists the sections that validated (checks needing the others are
    skipped); it holds "alerting" when the alerting config (inline or file),
    or its absence, is known, so receiver names can be checked.
    """
    problems: list[Problem] = []
    if "datasources" in valid:
        problems += _unique([d.name for d in config.datasources], ("datasources",), "datasource")
    if "rule_files" in valid and "datasources" in valid:
        names = sorted({d.name for d in config.datasources})
        for i, entry in enumerate(config.rule_files):
            if isinstance(entry, RuleFileSet) and entry.datasource is not None and entry.datasource not in names:
                problems.append((("rule_files", i, "datasource"), f"unknown datasource {entry.datasource!r} ({_known(names)})"))
    if "escalation_policies" in valid:
        problems += _unique([p.name for p in config.escalation_policies], ("escalation_policies",), "escalation policy")
    if "alerting" not in valid:
        return problems
    receivers = sorted({r.name for r in alerting.receivers}) if alerting is not None else []
    policies = {p.name for p in config.escalation_policies}
    if "escalation_policies" in valid:
        for i, policy in enumerate(config.escalation_policies):
            for j, level in enumerate(policy.levels):
                for k, name in enumerate(level.receivers):
                    if name in policies:
                        problems.append((("escalation_policies", i, "levels", j, "receivers", k), f"{name!r} is an escalation policy; levels must name receivers"))
                    elif name not in receivers:
                        problems.append((("escalation_policies", i, "levels", j, "receivers", k), f"unknown receiver {name!r} ({_known(receivers)})"))
    if "delivery" in valid:
        for key, options in config.delivery.items():
            if key not in receivers:
                problems.append((("delivery", key), f"unknown receiver {key!r} ({_known(receivers)})"))
            for k, name in enumerate(options.fallback):
                if name == key:
                    problems.append((("delivery", key, "fallback", k), "a receiver cannot be its own fallback"))
                elif name not in receivers:
                    problems.append((("delivery", key, "fallback", k), f"unknown receiver {name!r} ({_known(receivers)})"))
    return problems


def check_targets(targets: list[tuple[int, Any]], config: Config) -> list[Problem]:
    """Duplicate names (reported at the second one) and timeouts against inherited intervals."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, target in targets:
        if target.name in first:
            problems.append((("targets", i, "name"), f"duplicate target name {target.name!r} (first defined at targets[{first[target.name]}])"))
        else:
            first[target.name] = i
        if target.interval is None and target.timeout is not None and target.timeout > config.global_.scrape_interval:
            problems.append((
                ("targets", i, "timeout"),
                f"timeout {format_duration(target.timeout)} must not be greater than interval "
                f"{format_duration(config.global_.scrape_interval)} (inherited from global.scrape_interval)",
            ))
    return problems


def inherit_target_defaults(target: Any, config: Config) -> Any:
    """A copy of `target` with interval and timeout filled from `global` when unset."""
    interval = target.interval if target.interval is not None else config.global_.scrape_interval
    timeout = target.timeout if target.timeout is not None else min(interval, config.global_.scrape_timeout)
    return target.model_copy(update={"interval": interval, "timeout": timeout})


def _unique(names: list[str], loc: Loc, what: str) -> list[Problem]:
    seen: dict[str, int] = {}
    out: list[Problem] = []
    for i, name in enumerate(names):
        if name in seen:
            out.append((loc + (i, "name"), f"duplicate {what} name {name!r} (first defined at {loc[-1]}[{seen[name]}])"))
        else:
            seen[name] = i
    return out


def _known(names: list[str]) -> str:
    return f"known: {', '.join(names)}" if names else "none are defined"
