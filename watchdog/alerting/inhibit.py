"""Inhibition rules with Alertmanager's semantics. Pure.

A target alert is inhibited when some *firing* source alert matches a rule's
source matchers, the target matches its target matchers, and every `equal`
label has the same value on both (a label missing on both sides counts as
equal). An alert that matches both sides of a rule is never inhibited by an
alert that also matches both sides (no self-inhibition), but can be by a pure
source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from watchdog.alerting.matchers import Matcher, matches_all
from watchdog.model import Labels


@dataclass(frozen=True, slots=True)
class CompiledInhibitRule:
    sources: tuple[Matcher, ...]
    targets: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def from_config(cls, rule: Any) -> "CompiledInhibitRule":
        return cls(tuple(rule.sources()), tuple(rule.targets()), tuple(rule.equal))


class Inhibitor:
    """Answers "is this alert inhibited?" against a snapshot of firing alerts."""

    def __init__(self, rules: Sequence[Any]) -> None:
        self._rules = [r if isinstance(r, CompiledInhibitRule) else CompiledInhibitRule.from_config(r) for r in rules]
        # Per rule: equal-label values -> source label sets (with whether the source also matches the target side).
        self._sources: list[dict[tuple[str, ...], list[bool]]] = [{} for _ in self._rules]

    @property
    def rules(self) -> list[CompiledInhibitRule]:
        return list(self._rules)

    def set_firing(self, firing: Iterable[Labels | Mapping[str, str]]) -> None:
        """Replace the snapshot of firing alerts (only firing alerts inhibit)."""
        self._sources = [{} for _ in self._rules]
        for labels in firing:
            for i, rule in enumerate(self._rules):
                if matches_all(rule.sources, labels):
                    key = tuple(labels.get(n, "") or "" for n in rule.equal)
                    self._sources[i].setdefault(key, []).append(matches_all(rule.targets, labels))

    def inhibited(self, labels: Labels | Mapping[str, str]) -> bool:
        for i, rule in enumerate(self._rules):
            if not matches_all(rule.targets, labels):
                continue
            candidates = self._sources[i].get(tuple(labels.get(n, "") or "" for n in rule.equal))
            if not candidates:
                continue
            two_sided = matches_all(rule.sources, labels)
            # A target that matches both sides is inhibited only by a source that is not itself a target.
            if any(not (two_sided and source_is_target) for source_is_target in candidates):
                return True
        return False
