"""Load config.yaml and every file it names; report every error at once, located.

Each top-level section is validated on its own, so one broken section does not
hide the errors of the others; cross references are checked for the sections
that validated. Included files (rule files, remediation files, the Alertmanager
file) are loaded through their owners' loaders, and their errors carry their
own paths, resolved against the directory of the file that names them.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import TypeAdapter

from watchdog.alerting.config import AlertingConfig, check_alerting
from watchdog.config.checks import check_references, check_targets, inherit_target_defaults
from watchdog.config.errors import ConfigError, ConfigErrors, dotted
from watchdog.config.models import Config, RuleFileSet
from watchdog.config.secrets import fill_file_fields, resolve
from watchdog.config.yamlpos import LocatedDoc, load_yaml_file, validate

_SECTIONS: dict[str, tuple[str, TypeAdapter[Any]]] = {
    (info.alias or name): (name, TypeAdapter(info.annotation))
    for name, info in Config.model_fields.items()
    if name != "targets"
}


@dataclass
class LoadedConfig:
    config: Config
    path: str                                   # config.yaml as given
    base_dir: str                               # its directory: relative paths resolve here
    alerting: AlertingConfig | None = None      # inline `alerting:` or the `alerting_file`
    alerting_path: str | None = None            # the Alertmanager file, when one was used
    rule_groups: list[Any] = field(default_factory=list)
    remediation_specs: list[Any] = field(default_factory=list)
    detector_specs: list[Any] = field(default_factory=list)
    warnings: list[ConfigError] = field(default_factory=list)
    rule_file_paths: list[str] = field(default_factory=list)
    remediation_file_paths: list[str] = field(default_factory=list)
    detector_file_paths: list[str] = field(default_factory=list)
    rule_file_datasources: dict[str, str] = field(default_factory=dict)  # rule file path -> datasource name
    notification_templates: Any = None          # the TemplateSet of the Alertmanager `templates:` files (+ defaults)
    template_file_paths: list[str] = field(default_factory=list)

    @property
    def targets(self) -> list[Any]:
        return self.config.targets


class _Collector:
    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self.warnings: list[ConfigError] = []

    def add(self, items: list[ConfigError]) -> None:
        for e in items:
            (self.warnings if e.warning else self.errors).append(e)


def load_config(path: str, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and check everything; raises ConfigErrors carrying every error (and the warnings)."""
    out = _Collector()
    env = dict(environ) if environ is not None else None
    doc = load_yaml_file(path, env=True, environ=env)
    out.add(_redacted(doc.errors, doc))
    if doc.data is None:
        raise ConfigErrors(out.errors, out.warnings)
    if not isinstance(doc.data, dict):
        raise ConfigErrors([doc.error((), "config must be a mapping of sections (global, targets, ...)")])
    base_dir = os.path.dirname(path)
    context = {"base_dir": base_dir or "."}
    sections, valid = _validate_sections(doc, context, out)
    config = Config.model_validate(sections)
    loaded = LoadedConfig(config=config, path=path, base_dir=base_dir)

    targets = _validate_targets(doc, config, context, out, valid)
    if "storage" in valid and config.storage.path != ":memory:":
        config.storage.path = resolve(base_dir, config.storage.path)
    if "api" in valid:
        out.add([doc.error(loc, msg) for loc, msg in fill_file_fields(config.api, base_dir, ("api",))])

    loaded.alerting = _load_alerting(doc, config, base_dir, env, valid, out, loaded)
    out.add([doc.error(loc, msg) for loc, msg in check_references(config, loaded.alerting, valid)])
    config.targets = targets

    _load_included(doc, config, base_dir, valid, out, loaded)
    loaded.warnings = sorted(out.warnings, key=lambda e: (e.path, e.line, e.col, e.field))
    if out.errors:
        raise ConfigErrors(out.errors, out.warnings)
    # per-receiver delivery options (fallback, retry deadline, rate limit) ride on the receivers,
    # so every consumer of a loaded config (daemon, reload, `notify test`, scenarios) gets them
    from watchdog.notify.delivery import attach_delivery_options

    attach_delivery_options(loaded.alerting, config.delivery)
    # loaded.notification_templates is handed on explicitly (Dispatcher, fire drill): loading a
    # config installs nothing, so one that is never swapped in changes no rendering
    return loaded


def _validate_sections(doc: LocatedDoc, context: dict[str, Any], out: _Collector) -> tuple[dict[str, Any], set[str]]:
    sections: dict[str, Any] = {}
    valid: set[str] = set()
    for key, value in doc.data.items():
        if key == "targets":
            continue
        if key not in _SECTIONS:
            out.add([doc.error((key,), f"unknown field (known: {', '.join(sorted([*_SECTIONS, 'targets']))})")])
            continue
        model, errors = validate(_SECTIONS[key][1], value, doc, prefix=(key,), context=context)
        out.add(_redacted(errors, doc))
        if not errors:
            sections[key] = model
            valid.add(_SECTIONS[key][0])
    for key, (name, _) in _SECTIONS.items():
        if key not in doc.data:
            valid.add(name)
    return sections, valid


def _validate_targets(doc: LocatedDoc, config: Config, context: dict[str, Any], out: _Collector, valid: set[str]) -> list[Any]:
    raw = doc.data.get("targets", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        out.add([doc.error(("targets",), "must be a list of targets")])
        return []
    from watchdog.probes.registry import TARGET_MODELS

    kinds = ", ".join(sorted(TARGET_MODELS))
    validated: list[tuple[int, Any]] = []
    for i, item in enumerate(raw):
        loc = ("targets", i)
        if not isinstance(item, dict):
            out.add([doc.error(loc, "must be a mapping with at least name and type")])
            continue
        kind = item.get("type")
        if kind is None:
            out.add([doc.error(loc + ("type",), f"field required (one of: {kinds})")])
            continue
        if not isinstance(kind, str) or kind not in TARGET_MODELS:
            out.add([doc.error(loc + ("type",), f"unknown target type {str(kind)!r} (valid types: {kinds})")])
            continue
        target, errors = validate(TARGET_MODELS[kind], item, doc, prefix=loc, context=context)
        out.add(_redacted(errors, doc))
        if target is not None:
            validated.append((i, target))
    if "global_" in valid:
        out.add([doc.error(loc, msg) for loc, msg in check_targets(validated, config)])
    return [inherit_target_defaults(t, config) for _, t in validated]


def _load_alerting(doc: LocatedDoc, config: Config, base_dir: str, env: dict[str, str] | None,
                   valid: set[str], out: _Collector, loaded: LoadedConfig) -> AlertingConfig | None:
    """The alerting config from `alerting:` or `alerting_file:`.

    "alerting" leaves `valid` when its shape is broken (receiver names unknown),
    so checks that need the receivers are skipped instead of guessing.
    """
    policies = _policy_names(doc, config, valid)
    if "alerting" in doc.data and "alerting_file" in doc.data:
        out.add([doc.error(("alerting_file",), "set either alerting or alerting_file, not both")])
        valid.discard("alerting")
        return None
    if "alerting" not in valid or "alerting_file" not in valid:
        valid.discard("alerting")
        return None
    if config.alerting is not None:
        problems = check_alerting(config.alerting, policy_names=policies, extensions_allowed=True)
        problems += [(loc, msg, False) for loc, msg in fill_file_fields(config.alerting, base_dir)]
        out.add([doc.error(loc, msg, prefix=("alerting",), warning=w) for loc, msg, w in problems])
        _load_templates(doc, config.alerting.templates, ("alerting", "templates"), base_dir, out, loaded)
        return config.alerting
    if config.alerting_file is None:
        return None
    am_path = resolve(base_dir, config.alerting_file)
    loaded.alerting_path = am_path
    if not os.path.isfile(am_path):
        out.add([doc.error(("alerting_file",), f"no such file: {config.alerting_file!r}")])
        valid.discard("alerting")
        return None
    am_doc = load_yaml_file(am_path, env=True, environ=env)
    errors = _redacted(am_doc.errors, am_doc)
    am = None
    if am_doc.data is not None:
        if not isinstance(am_doc.data, dict) or "route" not in am_doc.data:
            errors.append(am_doc.error((), "not an Alertmanager config: no top-level `route:`"))
        else:
            am, shape_errors = validate(AlertingConfig, am_doc.data, am_doc)
            errors += _redacted(shape_errors, am_doc)
    if am is not None:
        problems = check_alerting(am, policy_names=policies, extensions_allowed=False)
        problems += [(loc, msg, False) for loc, msg in fill_file_fields(am, os.path.dirname(am_path))]
        errors += [am_doc.error(loc, msg, warning=w) for loc, msg, w in problems]
        _load_templates(am_doc, am.templates, ("templates",), os.path.dirname(am_path), out, loaded)
    out.add(errors)
    if am is None:
        valid.discard("alerting")
    return am


def _load_templates(doc: LocatedDoc, patterns: list[str], loc: tuple[str | int, ...], base_dir: str,
                    out: _Collector, loaded: LoadedConfig) -> None:
    """Alertmanager `templates:` globs (relative to the file naming them), parsed once into the
    TemplateSet receiver fields render with; a file that does not parse is an error at its own
    line:col. Like Alertmanager, a glob matching nothing is fine (a plain missing path warns)."""
    from watchdog.notify.templates import template_set_from_files
    from watchdog.promql.template_format import TemplateError

    files: list[tuple[str, str]] = []
    broken = False
    for i, pattern in enumerate(patterns):
        full = resolve(base_dir, pattern)
        matches = sorted(p for p in glob.glob(full) if os.path.isfile(p)) if glob.has_magic(pattern) else [full]
        for path in matches:
            if path in loaded.template_file_paths:
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                missing = isinstance(e, FileNotFoundError)
                out.add([doc.error(loc + (i,), f"no such file: {pattern!r}" if missing else f"cannot read {path}: {e}", warning=missing)])
                continue
            try:   # each file on its own first, so an error names the file and line it is in
                template_set_from_files([(path, text)])
            except TemplateError as e:
                line, col = getattr(e, "line", 0), getattr(e, "col", 0)
                message = str(e).split(f"{path}:{line}:{col}: ", 1)[-1]   # the location is ours already
                out.add([ConfigError(path, line, col, "", f"template file does not parse: {message}")])
                broken = True
                continue
            loaded.template_file_paths.append(path)
            files.append((path, text))
    loaded.notification_templates = template_set_from_files(files)
    if not broken:   # with a file missing from the set, "not defined" warnings would be noise
        out.add(_receiver_template_warnings(doc, loc[:-1], loaded.notification_templates))


def _receiver_template_warnings(doc: LocatedDoc, prefix: tuple[str | int, ...], tset: Any) -> list[ConfigError]:
    """Receiver fields that will not render: a parse error, or a {{ template "NAME" }} defined
    nowhere. Warnings, not errors: at send time such a field falls back to our default text."""
    from watchdog.promql.template_format import TemplateError

    alerting = _value_at(doc.data, prefix) if prefix else doc.data
    receivers = alerting.get("receivers") if isinstance(alerting, dict) else None
    found: list[ConfigError] = []

    def walk(value: Any, loc: tuple[str | int, ...]) -> None:
        if isinstance(value, str):
            if "{{" not in value:
                return
            try:
                missing = tset.undefined_names(value, name=dotted(loc))
            except TemplateError as e:
                found.append(doc.error(loc, f"template does not parse (the default text will be sent): {e}", warning=True))
                return
            for name in missing:
                found.append(doc.error(loc, f'template "{name}" is not defined in the templates files '
                                       "(the default text will be sent)", warning=True))
        elif isinstance(value, dict):
            for k, v in value.items():
                if not _SECRET_KEY.search(str(k)):   # a message about a secret field could echo it
                    walk(v, loc + (str(k),))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, loc + (i,))

    # the raw YAML (not the models): its locations are what the operator wrote; secrets are never templates
    for i, receiver in enumerate(receivers if isinstance(receivers, list) else []):
        if isinstance(receiver, dict):
            for key, configs in receiver.items():
                if key.endswith("_configs"):
                    walk(configs, prefix + ("receivers", i, key))
    return _redacted(found, doc)


_SECRET_KEY = re.compile(r"password|secret|token|key|url|_file$|authorization|credentials", re.I)


def _policy_names(doc: LocatedDoc, config: Config, valid: set[str]) -> set[str]:
    """Escalation policy names; from the raw data when that section is broken (to avoid follow-on errors)."""
    if "escalation_policies" in valid:
        return {p.name for p in config.escalation_policies}
    raw = doc.data.get("escalation_policies")
    items = raw if isinstance(raw, list) else []
    return {str(p["name"]) for p in items if isinstance(p, dict) and "name" in p}


def _load_included(doc: LocatedDoc, config: Config, base_dir: str, valid: set[str], out: _Collector, loaded: LoadedConfig) -> None:
    if "rule_files" in valid:
        entries: list[tuple[tuple[str | int, ...], str, str | None]] = []
        for i, entry in enumerate(config.rule_files):
            if isinstance(entry, RuleFileSet):
                entries += [(("rule_files", i, "files", j), p, entry.datasource) for j, p in enumerate(entry.files)]
            else:
                entries.append((("rule_files", i), entry, None))
        for loc, pattern, datasource in entries:
            for p in _expand(doc, loc, pattern, base_dir, out):
                if p not in loaded.rule_file_paths:
                    loaded.rule_file_paths.append(p)
                    if datasource is not None:
                        loaded.rule_file_datasources[p] = datasource
        if loaded.rule_file_paths:
            from watchdog.rules.loader import load_rule_files

            loaded.rule_groups = _call_loader(doc, "rule_files", load_rule_files, loaded.rule_file_paths, out)
    if "detector_files" in valid:
        loaded.detector_file_paths = _expand_all(doc, "detector_files", config.detector_files, base_dir, out)
        if loaded.detector_file_paths:
            from watchdog.detect.spec import load_detector_files

            loaded.detector_specs = _call_loader(doc, "detector_files", load_detector_files, loaded.detector_file_paths, out)
    if "remediation_files" in valid:
        loaded.remediation_file_paths = _expand_all(doc, "remediation_files", config.remediation_files, base_dir, out)
        if loaded.remediation_file_paths:
            from watchdog.remediate.spec import load_remediation_files

            loaded.remediation_specs = _call_loader(doc, "remediation_files", load_remediation_files, loaded.remediation_file_paths, out)


def _call_loader(doc: LocatedDoc, key: str, loader: Any, paths: list[str], out: _Collector) -> list[Any]:
    """Run an included-file loader; a bug in it becomes an error on `key`, never a crash of check or reload."""
    try:
        items, errors = loader(paths)
    except Exception as e:  # noqa: BLE001 - a reload must survive any loader failure
        out.add([doc.error((key,), f"internal error while loading these files: {type(e).__name__}: {e}")])
        return []
    out.add(list(errors))
    return list(items)


def _expand_all(doc: LocatedDoc, key: str, patterns: list[str], base_dir: str, out: _Collector) -> list[str]:
    paths: list[str] = []
    for i, pattern in enumerate(patterns):
        for p in _expand(doc, (key, i), pattern, base_dir, out):
            if p not in paths:
                paths.append(p)
    return paths


def _expand(doc: LocatedDoc, loc: tuple[str | int, ...], pattern: str, base_dir: str, out: _Collector) -> list[str]:
    """A glob (sorted matches; none is fine) or a plain path (must exist)."""
    full = resolve(base_dir, pattern)
    if glob.has_magic(pattern):
        return sorted(p for p in glob.glob(full) if os.path.isfile(p))
    if not os.path.isfile(full):
        out.add([doc.error(loc, f"no such file: {pattern!r}")])
        return []
    return [full]


_ENV_MISSING = "environment variable ${"


def _redacted(errors: list[ConfigError], doc: LocatedDoc) -> list[ConfigError]:
    """Messages about a value that came from ${VAR} must not echo it (it may be a secret).

    A value whose variable is not set was expanded to "": the follow-on
    validation error at the same field is noise next to "... is not set", so it goes.
    """
    if not doc.env_paths:
        return list(errors)
    unset = {e.field for e in doc.errors if e.message.startswith(_ENV_MISSING)}
    errors = [e for e in errors if e.field not in unset or e.message.startswith(_ENV_MISSING)]
    values: dict[str, str] = {}
    for loc in doc.env_paths:
        value = _value_at(doc.data, loc)
        if isinstance(value, str) and value:
            values[dotted(loc)] = value
    out = []
    for e in errors:
        secret = next((v for f, v in values.items() if e.field == f or e.field.startswith(f + ".") or e.field.startswith(f + "[")), None)
        if secret is not None and secret in e.message:
            e = ConfigError(e.path, e.line, e.col, e.field, e.message.replace(secret, "<value from environment>"), e.warning)
        out.append(e)
    return out


def _value_at(data: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data
