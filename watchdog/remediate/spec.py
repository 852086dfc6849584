"""Remediation specs (`remediations/*.yml`): pydantic models and the located loader.

Shape pinned in CONTRACT.md. The action is one of four types (command, http,
systemd, docker), each with its own model; the loader validates the action
against the model its `type` names, so errors point at `action.<field>`.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Annotated, Any, Callable, Literal

import promql_parser
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator

from watchdog.alerting.matchers import Matcher, matches_all, parse_matchers
from watchdog.config.errors import ConfigError
from watchdog.config.yamlpos import LocatedDoc, load_yaml_file, validate
from watchdog.durations import Duration

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SPEC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
# Interpreters whose `-c` runs a string: an argv like [sh, -c, "..."] is a shell in disguise.
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish", "csh", "tcsh"}
DEFAULT_ENV = ["PATH", "HOME", "LANG", "TZ"]
ACTION_TYPES = ("command", "http", "systemd", "docker")
# systemd's unit-name grammar (systemd.unit(5)): name chars, an optional @instance, a known type suffix
UNIT_SUFFIXES = ("service", "socket", "target", "timer", "mount", "automount", "path", "slice", "scope", "swap", "device")
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(" + "|".join(UNIT_SUFFIXES) + r")")
UNIT_NAME_MAX = 255
# Docker's container-name grammar (a name or a hex id): never a path, never a query
CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def _check_matcher(text: str) -> str:
    parse_matchers(text)  # ValueError carries a message fit for the error line
    return text


def _check_template(text: str) -> str:
    from watchdog.promql.template import TemplateError, check

    try:
        check(text, extra_vars=("annotations", "change"))
    except TemplateError as e:
        raise ValueError(f"invalid template: {e}") from None
    return text


def _check_promql(expr: str) -> str:
    """Parse and compile as the engine will (so unsupported functions fail at load, not at run time)."""
    from watchdog.promql import PromQLError, functions
    from watchdog.promql.ast import compile_expr

    try:
        functions.check(compile_expr(promql_parser.parse(expr)))
    except (ValueError, TypeError, PromQLError) as e:
        raise ValueError(f"invalid PromQL: {e}") from None
    return expr


def _env_name(name: str) -> str:
    if not ENV_NAME.fullmatch(name):
        raise ValueError(f"invalid environment variable name {name!r}")
    return name


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
MatcherText = Annotated[str, AfterValidator(_check_matcher)]
TemplateText = Annotated[str, AfterValidator(_check_template)]


class CommandAction(BaseModel):
    """Run a program: argv list (never a shell), or a `shell: true` command string."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["command"]
    argv: list[TemplateText] | None = None
    command: str | None = None            # only with shell: true
    shell: bool = False
    timeout: PositiveDuration = 30.0
    env: list[Annotated[str, AfterValidator(_env_name)]] = Field(default_factory=lambda: list(DEFAULT_ENV))
    cwd: str | None = None
    user: str | None = None              # run as this user (the daemon must run as root)
    group: str | None = None             # default: the user's primary group

    @model_validator(mode="after")
    def _argv_or_shell(self) -> "CommandAction":
        if self.shell:
            if self.argv is not None:
                raise ValueError("with shell: true give the command as `command:` (one string), not argv")
            if not self.command or not self.command.strip():
                raise ValueError("shell: true needs `command:` (one string)")
            if "{{" in self.command:
                raise ValueError("a shell command takes no templates; read $WATCHDOG_ALERT_* from its environment")
            return self
        if self.command is not None:
            raise ValueError("`command:` is a shell string: use argv (a list), or set shell: true explicitly")
        if not self.argv:
            raise ValueError("argv is required (a non-empty list)")
        if "{{" in self.argv[0]:
            raise ValueError("argv[0] must be a fixed program path, without templates")
        if os.path.basename(self.argv[0]) in SHELLS and "-c" in self.argv[1:]:
            raise ValueError("argv runs a shell string (-c): use a script, or shell: true explicitly")
        return self


def _unless_templated(check: Callable[[str], str]) -> Callable[[str], str]:
    """A name checked at load when fixed; a templated one is checked by the runner once rendered."""
    def validate(text: str) -> str:
        if "{{" not in text:
            check(text)
        return text
    return validate


def check_unit_name(name: str) -> str:
    """systemd's unit-name grammar; raises ValueError (the message names the rule, not the value)."""
    if len(name) > UNIT_NAME_MAX or not UNIT_NAME.fullmatch(name) or name.startswith("-"):
        raise ValueError("invalid systemd unit name: letters, digits, ':_.\\-', an optional @instance and a type suffix (.service, .socket, .timer, ...)")
    return name


def check_container_name(name: str) -> str:
    if len(name) > 255 or not CONTAINER_NAME.fullmatch(name):
        raise ValueError("invalid container name: a letter or digit, then letters, digits, '_', '.' or '-'")
    return name


def _check_url(text: str) -> str:
    _check_template(text)
    head = text.split("{{", 1)[0].lower()
    if not (head.startswith("http://") or head.startswith("https://")):
        raise ValueError("url must start with http:// or https:// (templates only after the scheme)")
    return text


def _check_body(value: Any) -> Any:
    """Templates are allowed only inside JSON string values (never in keys or as structure)."""
    def walk(v: Any) -> None:
        if isinstance(v, str):
            _check_template(v)
        elif isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str) or "{{" in k:
                    raise ValueError("body keys must be plain strings (templates only inside string values)")
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)
        elif not (v is None or isinstance(v, (bool, int, float))):
            raise ValueError("body must be JSON (objects, lists, strings, numbers, booleans, null)")
    walk(value)
    return value


def _status_list(value: Any) -> Any:
    return [value] if isinstance(value, int) else value


class HttpAction(BaseModel):
    """Call an HTTP endpoint (e.g. a deployment tool's rollback API)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: Annotated[str, AfterValidator(_check_url)]      # templates: label values are percent-encoded
    headers: dict[str, str] = Field(default_factory=dict)   # fixed; values are never recorded
    bearer_token_file: str | None = None                     # relative to the remediation file
    body: Annotated[Any, AfterValidator(_check_body)] = None   # JSON; templates inside string values only
    expected_status: Annotated[list[Annotated[int, Field(ge=100, le=599)]], BeforeValidator(_status_list)] = Field(
        default_factory=lambda: [200, 201, 202, 204])
    timeout: PositiveDuration = 30.0


class SystemdAction(BaseModel):
    """`systemctl <operation> -- <unit>`; the unit name (templated or not) must follow systemd's grammar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["systemd"]
    operation: Literal["restart", "start", "stop", "reload", "try-restart"] = "restart"
    unit: Annotated[str, AfterValidator(_unless_templated(check_unit_name)), AfterValidator(_check_template)]
    user_manager: bool = False           # systemctl --user
    timeout: PositiveDuration = 60.0
    systemctl: str = "systemctl"         # looked up on PATH (tests put a stand-in there)


class DockerAction(BaseModel):
    """restart/start/stop a container through the Docker Engine API on its unix socket."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["docker"]
    operation: Literal["restart", "start", "stop"] = "restart"
    container: Annotated[str, AfterValidator(_unless_templated(check_container_name)), AfterValidator(_check_template)]
    socket: str = "/var/run/docker.sock"
    stop_timeout: int = Field(default=10, ge=0, le=3600)    # seconds Docker waits before SIGKILL (`t=`)
    timeout: PositiveDuration = 60.0


Action = Annotated[CommandAction | HttpAction | SystemdAction | DockerAction, Field(discriminator="type")]
ACTION_MODELS: dict[str, type[BaseModel]] = {
    "command": CommandAction, "http": HttpAction, "systemd": SystemdAction, "docker": DockerAction,
}


class RequiresChange(BaseModel):
    """Run only if a change (deploy) to the same service landed within `within` before the alert started."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    within: PositiveDuration = 1800.0
    same: list[str] = Field(default_factory=lambda: ["service"])


class Verify(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    expr: Annotated[str, AfterValidator(_check_promql)]
    within: PositiveDuration = 30.0
    interval: PositiveDuration = 1.0


class Breaker(BaseModel):
    """Per-spec circuit breaker: opens after `failures` failed runs in a row, half-opens after `reset_after`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    failures: int = Field(default=3, ge=1)
    reset_after: PositiveDuration = 1800.0


class Guardrails(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cooldown: Duration = 300.0                 # per alert, from the end of its last run
    max_attempts: int = Field(default=3, ge=1)  # per alert within `window`
    window: PositiveDuration = 3600.0
    max_concurrent: int = Field(default=1, ge=1)   # runs of this spec at once
    blast_radius: int | None = Field(default=None, ge=1)  # distinct targets per `window`
    breaker: Breaker | None = Field(default_factory=Breaker)


def _spec_name(name: str) -> str:
    if not SPEC_NAME.fullmatch(name):
        raise ValueError("name must start with a letter or digit and contain only letters, digits, '_', '.', ':' and '-'")
    return name


class RemediationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, AfterValidator(_spec_name)]
    match: list[MatcherText] = Field(min_length=1)
    action: Action
    verify: Verify | None = None
    guardrails: Guardrails = Field(default_factory=Guardrails)
    dry_run: bool = False
    require_approval: bool = False
    approval_timeout: PositiveDuration = 900.0     # an unapproved run expires after this (and a human is told)
    when_silenced: Literal["skip", "run"] = "skip"
    requires_change: RequiresChange | None = None

    _matchers: list[Matcher] = PrivateAttr(default_factory=list)
    _base_dir: str = PrivateAttr(default=".")
    _source: str = PrivateAttr(default="")

    def model_post_init(self, __context: Any) -> None:
        self._matchers = parse_matchers(list(self.match))

    @property
    def base_dir(self) -> str:
        """Directory of the file that defined the spec: relative argv[0] and cwd resolve against it."""
        return self._base_dir

    @property
    def source(self) -> str:
        return self._source

    def located(self, base_dir: str, source: str = "") -> "RemediationSpec":
        """This spec, bound to the directory (and file) it came from."""
        copy = self.model_copy()
        copy._matchers = self._matchers
        copy._base_dir = os.path.abspath(base_dir)
        copy._source = source
        return copy

    def matches(self, labels: Any) -> bool:
        return matches_all(self._matchers, labels)


class RemediationFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    remediations: list[Any] = Field(default_factory=list)


def resolve_executable(argv0: str, base_dir: str, search_path: str | None = None) -> str:
    """Resolve argv[0] per the contract; raises FileNotFoundError/PermissionError with a readable message.

    Contains `/` and not absolute -> relative to the remediation file's
    directory; a bare name -> looked up on PATH.
    """
    if "/" in argv0:
        path = argv0 if os.path.isabs(argv0) else os.path.normpath(os.path.join(base_dir, argv0))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"program {argv0!r} not found (looked for {path})")
        if not os.access(path, os.X_OK):
            raise PermissionError(f"program {argv0!r} is not executable ({path})")
        return path
    found = shutil.which(argv0, path=search_path if search_path is not None else os.environ.get("PATH", os.defpath))
    if not found:
        raise FileNotFoundError(f"program {argv0!r} not found on PATH")
    return found


def load_remediation_files(paths: list[str]) -> tuple[list[RemediationSpec], list[ConfigError]]:
    """Load every file; returns the valid specs and every located error (all of them, not the first)."""
    specs: list[RemediationSpec] = []
    errors: list[ConfigError] = []
    first_seen: dict[str, str] = {}
    for path in paths:
        doc = load_yaml_file(path)
        errors.extend(doc.errors)
        if doc.data is None or doc.errors:
            continue
        top, errs = validate(RemediationFile, doc.data, doc)
        errors.extend(errs)
        if top is None:
            continue
        base_dir = os.path.dirname(os.path.abspath(path))
        for i, item in enumerate(top.remediations):
            prefix = ("remediations", i)
            item, action_errors = _validated_action(item, doc, prefix)
            spec, errs = validate(RemediationSpec, item, doc, prefix=prefix)
            errors.extend(action_errors)
            errors.extend(errs)
            if spec is None or action_errors:
                continue
            spec_errors = _check_spec_files(spec, base_dir, doc, prefix)
            errors.extend(spec_errors)
            where = "{}:{}:{}".format(path, *doc.pos(prefix + ("name",)))
            if spec.name in first_seen:
                errors.append(doc.error(("name",), f"duplicate remediation name {spec.name!r} (first defined at {first_seen[spec.name]})", prefix=prefix))
                continue
            first_seen[spec.name] = where
            if not spec_errors:
                specs.append(spec.located(base_dir, path))
    return specs, errors


def _validated_action(item: Any, doc: LocatedDoc, prefix: tuple) -> tuple[Any, list[ConfigError]]:
    """Validate the action against the model its `type` names (errors located at `action.<field>`).

    On error the rest of the spec is still validated, with a neutral action in its place.
    """
    action = item.get("action") if isinstance(item, dict) else None
    if not isinstance(action, dict):
        return item, []   # missing or not a mapping: the spec's own validation says so
    kind = action.get("type")
    model = ACTION_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        error = doc.error(("action", "type") if "type" in action else ("action",),
                          f"unknown action type {kind!r} (supported: {', '.join(ACTION_TYPES)})" if "type" in action
                          else f"type is required (one of: {', '.join(ACTION_TYPES)})", prefix=prefix)
        errors = [error]
    else:
        validated, errors = validate(model, action, doc, prefix=prefix + ("action",))
        if validated is not None:
            return {**item, "action": validated}, []
    return {**item, "action": {"type": "command", "argv": ["true"]}}, errors


def _check_spec_files(spec: RemediationSpec, base_dir: str, doc: LocatedDoc, prefix: tuple) -> list[ConfigError]:
    """Things only checkable against the file system: the program and the working directory."""
    errors: list[ConfigError] = []
    action = spec.action
    if isinstance(action, HttpAction) and action.bearer_token_file is not None:
        if not os.path.isfile(os.path.join(base_dir, action.bearer_token_file)):
            errors.append(doc.error(("action", "bearer_token_file"), f"file {action.bearer_token_file!r} does not exist", prefix=prefix))
        return errors
    if not isinstance(action, CommandAction):
        return errors
    if action.user is not None:
        import pwd

        try:
            pwd.getpwnam(action.user)
        except KeyError:
            errors.append(doc.error(("action", "user"), f"no such user {action.user!r}", prefix=prefix))
    if action.group is not None:
        import grp

        try:
            grp.getgrnam(action.group)
        except KeyError:
            errors.append(doc.error(("action", "group"), f"no such group {action.group!r}", prefix=prefix))
    if action.argv:
        try:
            resolve_executable(action.argv[0], base_dir)
        except OSError as e:
            errors.append(doc.error(("action", "argv", 0), str(e), prefix=prefix))
    if action.cwd is not None:
        cwd = os.path.join(base_dir, action.cwd)
        if not os.path.isdir(cwd):
            errors.append(doc.error(("action", "cwd"), f"directory {action.cwd!r} does not exist", prefix=prefix))
    return errors
