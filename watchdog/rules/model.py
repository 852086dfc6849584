"""Rule-file model: groups of alerting and recording rules (Prometheus's rulefmt).

Plain frozen dataclasses built by `watchdog.rules.loader` once a file has
been validated; evaluation never sees raw YAML.

Rule identity: `f"{file}:{group}:{name}:{index}"` (file as given to the
loader, group name, alert name or recorded metric, position of the rule in
its group). It keys persisted alert state (`AlertRecord.rule`) and carries
pending/firing state across reloads and restarts: a rule keeps its state as
long as it stays in the same file and group, under the same name, at the
same position. Editing its expression, labels or annotations keeps the state
(as Prometheus does); renaming it or moving it starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union


def rule_identity(file: str, group: str, name: str, index: int) -> str:
    return f"{file}:{group}:{name}:{index}"


@dataclass(frozen=True)
class AlertingRule:
    name: str                          # the `alert:` value; becomes the `alertname` label
    expr: str
    for_: float = 0.0                  # seconds pending before firing
    keep_firing_for: float = 0.0       # seconds to keep firing after the condition clears
    labels: Mapping[str, str] = field(default_factory=dict)        # templated
    annotations: Mapping[str, str] = field(default_factory=dict)   # templated
    file: str = ""
    group: str = ""
    index: int = 0

    @property
    def identity(self) -> str:
        return rule_identity(self.file, self.group, self.name, self.index)

    @property
    def kind(self) -> str:
        return "alerting"


@dataclass(frozen=True)
class RecordingRule:
    record: str                        # the metric name the result is written under
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)        # not templated (as Prometheus)
    file: str = ""
    group: str = ""
    index: int = 0

    @property
    def name(self) -> str:
        return self.record

    @property
    def identity(self) -> str:
        return rule_identity(self.file, self.group, self.record, self.index)

    @property
    def kind(self) -> str:
        return "recording"


Rule = Union[AlertingRule, RecordingRule]


@dataclass(frozen=True)
class RuleGroup:
    name: str
    file: str
    interval: float | None = None      # None: the global evaluation_interval
    limit: int = 0                     # 0: unlimited; else max alerts / series a rule may produce
    query_offset: float = 0.0          # evaluate at t - query_offset (data that arrives late)
    rules: tuple[Rule, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)        # already merged into each rule's labels

    @property
    def key(self) -> str:
        """Group identity across reloads (Prometheus's GroupKey: file + name)."""
        return f"{self.file}:{self.name}"
