"""YAML loading that remembers where every value came from.

PyYAML's composer gives nodes with start marks; we build plain Python data
from them and keep a map from the data path (tuple of keys/indexes) to
(line, col), so pydantic's error locations can be reported as
`file:line:col` (as Prometheus's rulefmt does).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from watchdog.config.errors import ConfigError, dotted

Path = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class LocatedDoc:
    """Parsed YAML plus positions and the errors found while reading it."""

    path: str
    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    # paths of scalars that came from ${VAR}: their values are secrets-unsafe to echo
    env_paths: set[Path] = field(default_factory=set)

    def pos(self, loc: Path) -> tuple[int, int]:
        """Position of the longest prefix of `loc` that exists in the document."""
        loc = tuple(loc)
        while loc:
            if loc in self.positions:
                return self.positions[loc]
            loc = loc[:-1]
        return self.positions.get((), (1, 1))

    def error(self, loc: Path, message: str, *, prefix: Path = (), warning: bool = False) -> ConfigError:
        full = tuple(prefix) + tuple(loc)
        line, col = self.pos(full)
        return ConfigError(self.path, line, col, dotted(full), message, warning)


def expand_env(text: str, environ: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Expand `${VAR}`; `$$` is a literal `$`. Returns (text, names of missing variables)."""
    env = os.environ if environ is None else environ
    missing: list[str] = []

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name not in env:
            missing.append(name)
            return ""
        return env[name]

    return _ENV_RE.sub(repl, text), missing


class _Builder:
    def __init__(self, doc: LocatedDoc, env: bool, environ: dict[str, str] | None):
        self.doc = doc
        self.env = env
        self.environ = environ

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.doc.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.doc.errors.append(self._err(key_node, path, "YAML merge keys (<<) are not supported"))
                    continue
                key = yaml.SafeLoader.construct_scalar(_LOADER, key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    self.doc.errors.append(self._err(key_node, path, "mapping keys must be strings"))
                    continue
                child = path + (key,)
                if key in out:
                    self.doc.errors.append(self._err(key_node, child, f"duplicate key {key!r}"))
                    continue
                # the key's own position is where an operator looks for the field
                self.doc.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        value = _LOADER.construct_object(node, deep=True)
        if self.env and isinstance(value, str) and "$" in value:
            expanded, missing = expand_env(value, self.environ)
            for name in missing:
                self.doc.errors.append(self._err(node, path, f"environment variable ${{{name}}} is not set"))
            self.doc.env_paths.add(path)
            value = expanded
        return value

    def _err(self, node: yaml.Node, path: Path, message: str) -> ConfigError:
        return ConfigError(self.doc.path, node.start_mark.line + 1, node.start_mark.column + 1, dotted(path), message)


_LOADER = yaml.SafeLoader("")


def load_yaml_text(text: str, path: str, *, env: bool = False, environ: dict[str, str] | None = None) -> LocatedDoc:
    """Parse `text`; syntax errors land in `doc.errors` (data is then None)."""
    doc = LocatedDoc(path=path, data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = e.problem or str(e)
        if e.context:
            msg = f"{e.context}: {msg}"
        doc.errors.append(ConfigError(path, line, col, "", f"YAML syntax error: {msg}"))
        return doc
    except yaml.YAMLError as e:  # pragma: no cover - non-marked errors are rare
        doc.errors.append(ConfigError(path, 0, 0, "", f"YAML error: {e}"))
        return doc
    if node is None:
        doc.data = {}
        doc.positions[()] = (1, 1)
        return doc
    try:
        doc.data = _Builder(doc, env, environ).build(node, ())
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        doc.errors.append(ConfigError(path, mark.line + 1 if mark else 0, mark.column + 1 if mark else 0, "", str(e.problem)))
    return doc


def load_yaml_file(path: str, *, env: bool = False, environ: dict[str, str] | None = None, max_bytes: int = 16 << 20) -> LocatedDoc:
    """Read and parse a YAML file; I/O and decoding problems become located errors."""
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        doc = LocatedDoc(path=path, data=None)
        doc.errors.append(ConfigError(path, 0, 0, "", f"cannot read file: {e.strerror or e}"))
        return doc
    if len(raw) > max_bytes:
        doc = LocatedDoc(path=path, data=None)
        doc.errors.append(ConfigError(path, 0, 0, "", f"file is larger than {max_bytes} bytes"))
        return doc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        doc = LocatedDoc(path=path, data=None)
        doc.errors.append(ConfigError(path, line, col, "", "file is not valid UTF-8"))
        return doc
    return load_yaml_text(text, path, env=env, environ=environ)


def validate(
    model: type[M] | TypeAdapter[Any],
    data: Any,
    doc: LocatedDoc,
    *,
    prefix: Path = (),
    context: dict[str, Any] | None = None,
    message: Callable[[dict[str, Any]], str] | None = None,
) -> tuple[M | None, list[ConfigError]]:
    """Validate `data` (found at `prefix` inside `doc`) against `model`.

    Returns the model or None, and every error located in the file. Messages
    never include the offending input value (it may be a secret). `model` may
    also be a pydantic TypeAdapter (e.g. for a list or dict section).
    """
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data, context=context), []
        return model.model_validate(data, context=context), []
    except ValidationError as e:
        errors = []
        for err in e.errors(include_input=False, include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            msg = message(err) if message else _message(err)
            errors.append(doc.error(loc, msg, prefix=prefix))
        return None, errors


def _message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    msg = str(err.get("msg", "invalid value"))
    # pydantic prefixes custom ValueErrors with "Value error, "
    for p in ("Value error, ", "Assertion failed, "):
        if msg.startswith(p):
            msg = msg[len(p):]
    return msg
