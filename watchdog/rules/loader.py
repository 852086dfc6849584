"""Load Prometheus rule files with every error located (as `promtool check rules`).

Rule files are operator data in Prometheus's own format, so the checks follow
Prometheus's rulefmt: unknown keys, exactly one of `alert`/`record`, a
non-empty `expr` that parses, valid metric and label names, no `for` or
`annotations` on recording rules, group names unique within a file, and
templates that parse. There is no `${VAR}` expansion here: `${1}` belongs to
`label_replace`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Callable

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from watchdog.config.errors import ConfigError
from watchdog.config.yamlpos import LocatedDoc, load_yaml_file, validate
from watchdog.durations import Duration
from watchdog.promql.template import TemplateError, check as check_template
from watchdog.rules.model import AlertingRule, RecordingRule, Rule, RuleGroup

METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _scalar_to_str(v: Any) -> Any:
    # Go's YAML decoder reads any scalar into a string field; `severity: 1` is "1"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return v


Text = Annotated[str, BeforeValidator(_scalar_to_str)]


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    record: Text | None = None
    alert: Text | None = None
    expr: Text | None = None
    for_: Duration = Field(0.0, alias="for")
    keep_firing_for: Duration = 0.0
    labels: dict[str, Text] | None = None
    annotations: dict[str, Text] | None = None


class GroupModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text
    interval: Duration | None = None
    limit: int = Field(0, ge=0)
    query_offset: Duration | None = None
    labels: dict[str, Text] | None = None
    rules: list[Any] | None = None   # validated one by one so each rule's errors are located


class RuleFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: list[Any] | None = None


ParseExpr = Callable[[str], Any]


def default_expr_parser() -> ParseExpr:
    """The engine's parser (it also checks functions and argument types)."""
    from watchdog.promql import Engine
    from watchdog.tsdb import SeriesStore

    return Engine(SeriesStore()).parse


def load_rule_files(
    paths: list[str], *, parse_expr: ParseExpr | None = None, ignore_unknown_fields: bool = False
) -> tuple[list[RuleGroup], list[ConfigError]]:
    """Load every file; returns all groups and all errors (a file with errors contributes no groups).

    `ignore_unknown_fields` drops keys rulefmt does not know instead of reporting
    them (promtool's --ignore-unknown-fields, for files that carry extra metadata).
    """
    parse = parse_expr or default_expr_parser()
    groups: list[RuleGroup] = []
    errors: list[ConfigError] = []
    for path in paths:
        file_groups, file_errors = load_rule_file(path, parse_expr=parse, ignore_unknown_fields=ignore_unknown_fields)
        errors.extend(file_errors)
        if not file_errors:
            groups.extend(file_groups)
    return groups, errors


def load_rule_file(
    path: str, *, parse_expr: ParseExpr | None = None, ignore_unknown_fields: bool = False
) -> tuple[list[RuleGroup], list[ConfigError]]:
    parse = parse_expr or default_expr_parser()
    doc = load_yaml_file(path, env=False)
    if doc.errors or doc.data is None:
        return [], list(doc.errors)
    if not isinstance(doc.data, dict):
        return [], [doc.error((), "a rule file must be a mapping with a 'groups' list")]
    if ignore_unknown_fields:
        _drop_unknown_fields(doc.data)
    top, errors = validate(RuleFileModel, doc.data, doc)
    if top is None:
        return [], errors
    groups: list[RuleGroup] = []
    seen: set[str] = set()
    for gi, raw_group in enumerate(top.groups or []):
        prefix = ("groups", gi)
        if not isinstance(raw_group, dict):
            errors.append(doc.error(prefix, "a group must be a mapping"))
            continue
        group, group_errors = validate(GroupModel, raw_group, doc, prefix=prefix)
        errors.extend(group_errors)
        if group is None:
            # still check the rules, so one run reports everything
            raw_rules = raw_group.get("rules")
            placeholder = GroupModel(name=str(raw_group.get("name", "")))
            for ri, raw_rule in enumerate(raw_rules if isinstance(raw_rules, list) else []):
                errors.extend(_load_rule(doc, prefix + ("rules", ri), raw_rule, placeholder, ri, parse)[1])
            continue
        if not group.name:
            errors.append(doc.error(prefix + ("name",), "group name must not be empty"))
        elif group.name in seen:
            errors.append(doc.error(prefix + ("name",), f'groupname: "{group.name}" is repeated in the same file'))
        seen.add(group.name)
        errors.extend(_check_labels(doc, prefix + ("labels",), group.labels or {}))
        rules: list[Rule] = []
        for ri, raw_rule in enumerate(group.rules or []):
            rule, rule_errors = _load_rule(doc, prefix + ("rules", ri), raw_rule, group, ri, parse)
            errors.extend(rule_errors)
            if rule is not None and not rule_errors:
                rules.append(rule)
        groups.append(
            RuleGroup(
                name=group.name,
                file=path,
                interval=group.interval,
                limit=group.limit,
                query_offset=group.query_offset or 0.0,
                rules=tuple(rules),
                labels=dict(group.labels or {}),
            )
        )
    return groups, errors


def _load_rule(
    doc: LocatedDoc, loc: tuple[str | int, ...], raw: Any, group: GroupModel, index: int, parse: ParseExpr
) -> tuple[Rule | None, list[ConfigError]]:
    if not isinstance(raw, dict):
        return None, [doc.error(loc, "a rule must be a mapping")]
    model, errors = validate(RuleModel, raw, doc, prefix=loc)
    if model is None:
        return None, errors
    record, alert = model.record or "", model.alert or ""
    if record and alert:
        errors.append(doc.error(loc, "only one of 'record' and 'alert' must be set"))
    elif not record and not alert:
        errors.append(doc.error(loc, "one of 'record' or 'alert' must be set"))
    if not (model.expr or "").strip():
        errors.append(doc.error(loc + ("expr",) if "expr" in raw else loc, "field 'expr' must be set in rule"))
    else:
        try:
            parse(model.expr or "")
        except Exception as e:  # the parser's own message, whatever it raised
            errors.append(doc.error(loc + ("expr",), f"could not parse expression: {e}"))
    if record:
        if not METRIC_NAME_RE.match(record):
            errors.append(doc.error(loc + ("record",), f"invalid recording rule name: {record}"))
        for key, present in (("annotations", bool(model.annotations)), ("for", model.for_ != 0), ("keep_firing_for", model.keep_firing_for != 0)):
            if present:
                errors.append(doc.error(loc + (key,), f"invalid field '{key}' in recording rule"))
    labels = dict(model.labels or {})
    annotations = dict(model.annotations or {})
    errors.extend(_check_labels(doc, loc + ("labels",), labels))
    for name in annotations:
        if not LABEL_NAME_RE.match(name):
            errors.append(doc.error(loc + ("annotations", name), f"invalid annotation name: {name}"))
    if alert:
        for kind, mapping in (("label", labels), ("annotation", annotations)):
            for name, text in mapping.items():
                try:
                    check_template(text, name=f"__alert_{alert}")
                except TemplateError as e:
                    errors.append(doc.error(loc + (kind + "s", name), f'{kind} "{name}": {e}'))
    if errors:
        return None, errors
    merged = {**(group.labels or {}), **labels}
    file = doc.path
    if alert:
        return AlertingRule(alert, model.expr or "", model.for_, model.keep_firing_for, merged, annotations, file, group.name, index), []
    return RecordingRule(record, model.expr or "", merged, file, group.name, index), []


def _known_only(raw: Any, model: type[BaseModel]) -> None:
    if isinstance(raw, dict):
        known = {f.alias or name for name, f in model.model_fields.items()} | set(model.model_fields)
        for key in [k for k in raw if k not in known]:
            del raw[key]


def _drop_unknown_fields(data: dict) -> None:
    _known_only(data, RuleFileModel)
    for group in data.get("groups") or []:
        _known_only(group, GroupModel)
        for rule in (group.get("rules") or []) if isinstance(group, dict) else []:
            _known_only(rule, RuleModel)


def _check_labels(doc: LocatedDoc, loc: tuple[str | int, ...], labels: dict[str, str]) -> list[ConfigError]:
    return [
        doc.error(loc + (name,), f"invalid label name: {name}")
        for name in labels
        if not LABEL_NAME_RE.match(name) or name == "__name__"
    ]
