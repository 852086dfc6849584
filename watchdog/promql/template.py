"""A safe interpreter for the Go text/template subset Prometheus rule templates use.

Rule annotations (and remediation arguments) are written in Go template
syntax: `{{ $labels.instance }} is down ({{ $value | humanize }})`. We parse
and interpret that language ourselves, so a template can only read the data
it is given and call the functions in `_FUNCS`: no attribute access on Python
objects, no eval, no files, no imports.

Output follows Go's formatting where operators can see it (`{{ $value }}`
prints a float like Go's `%v`: 1 -> "1", 1e6 -> "1e+06"; a missing label
prints "<no value>"), so annotations read exactly as under Prometheus.

Layout: template_parse (lexer, nodes, parser) -> this module (interpreter,
public API) -> template_format (Go value formatting: `%v`, printf) and
template_funcs (the function table: the whole surface a template can reach).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from watchdog.model import Sample
from watchdog.promql.template_format import (
    AlertTemplateData, Pair, QuerySample, TemplateError, _NOARG, _is_label_map, go_sprint_value, go_type, method_of, truth,
)
from watchdog.promql.template_funcs import (
    _FUNCS,
)
from watchdog.promql.template_parse import (
    Define, _Action, _Branch, _Chain, _Command, _Const, _Field, _Func, _Parser, _Pipe, _Template, _Text, _Var, _line_col,
)
from watchdog.promql.template_format import go_float, go_quote, go_sprintf, GoTime  # noqa: F401 (public)
from watchdog.promql.template_time import make_since
from watchdog.promql.template_funcs import (  # noqa: F401 (public)
    humanize, humanize1024, humanize_duration, humanize_percentage, humanize_timestamp, re_replace_all, to_time,
)

MAX_OUTPUT = 1 << 20      # a template cannot produce more than 1 MiB
MAX_STEPS = 200_000       # nor run forever (range over a huge query result)
MAX_TEMPLATE_DEPTH = 100  # nor recurse through {{ template }} without end


# --------------------------------------------------------------------------- interpreter


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exec:
    def __init__(self, text: str, name: str, funcs: Mapping[str, Callable[..., Any]],
                 templates: Mapping[str, Define] = {}):
        self.text = text
        self.name = name
        self.funcs = funcs
        self.templates = templates
        self.depth = 0
        self.vars: list[tuple[str, Any]] = []
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.current: _Command | None = None

    def fail(self, pos: int, msg: str) -> TemplateError:
        at = f" at <{self.current.source}>" if self.current is not None and self.current.source else ""
        return TemplateError(f"template: {self.name}:{_line_col(self.text, pos)}: executing \"{self.name}\"{at}: {msg}")

    def write(self, s: str) -> None:
        self.size += len(s)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"template: {self.name}: output larger than {MAX_OUTPUT} bytes")
        self.out.append(s)

    def run(self, nodes: list[Any], dot: Any) -> None:
        for node in nodes:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise TemplateError(f"template: {self.name}: too many steps (over {MAX_STEPS})")
            if isinstance(node, _Text):
                self.write(node.text)
            elif isinstance(node, _Action):
                value = self.pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.write(go_sprint_value(value))
            elif isinstance(node, _Branch):
                self.branch(node, dot)
            elif isinstance(node, _Template):
                self.call_template(node, dot)
            else:
                raise _Break() if node.kind == "break" else _Continue()

    def call_template(self, node: _Template, dot: Any) -> None:
        """{{ template "name" pipeline }}: the named template with the pipeline's value as dot and `$`."""
        value = None
        if node.pipe is not None:
            mark = len(self.vars)
            try:
                value = self.pipe(node.pipe, dot)
            finally:
                del self.vars[mark:]
        defn = self.templates.get(node.name)
        outer = self.current
        self.current = _Command([], node.pos, node.source)
        try:
            if defn is None:
                raise self.fail(node.pos, f"template {go_quote(node.name)} not defined")
            if self.depth >= MAX_TEMPLATE_DEPTH:
                raise self.fail(node.pos, f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        finally:
            self.current = outer
        if defn.native is not None:
            try:
                out = defn.native(value)
            except (TypeError, ValueError, KeyError, AttributeError) as e:
                raise self.fail(node.pos, f"template {go_quote(node.name)}: {_go_error(e)}") from None
            if out is not None:
                self.write(out)
                return
        saved = (self.text, self.name, self.vars, self.current)
        self.text, self.name, self.vars, self.current = defn.text, node.name, [("$", value)], None
        self.depth += 1
        try:
            self.run(defn.nodes, value)
        finally:
            self.depth -= 1
            self.text, self.name, self.vars, self.current = saved

    def branch(self, node: _Branch, dot: Any) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            value = self.pipe(node.pipe, dot, declare_range=False)
            if truth(value):
                self.run(node.body, value if node.kind == "with" else dot)
            elif node.else_body is not None:
                self.run(node.else_body, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: _Branch, dot: Any) -> None:
        value = self.pipe(node.pipe, dot, declare_range=True)
        if isinstance(value, Mapping):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None:
            items = []
        else:
            raise self.fail(node.pipe.pos, f"range can't iterate over {go_sprint_value(value)}")
        if not items:
            if node.else_body is not None:
                self.run(node.else_body, dot)
            return
        mark = len(self.vars)
        for key, elem in items:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise TemplateError(f"template: {self.name}: too many steps (over {MAX_STEPS})")
            del self.vars[mark:]
            decl = node.pipe.decl
            if len(decl) == 1:
                self.vars.append((decl[0], elem))
            elif len(decl) == 2:
                self.vars.append((decl[0], key))
                self.vars.append((decl[1], elem))
            try:
                self.run(node.body, elem)
            except _Continue:
                continue
            except _Break:
                break

    def pipe(self, pipe: _Pipe, dot: Any, declare_range: bool = False) -> Any:
        value: Any = _NOARG
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, value)
        if pipe.decl and not declare_range:
            if pipe.assign:
                for i in range(len(self.vars) - 1, -1, -1):
                    if self.vars[i][0] == pipe.decl[0]:
                        self.vars[i] = (pipe.decl[0], value)
                        break
            else:
                self.vars.append((pipe.decl[0], value))
        return value

    def command(self, cmd: _Command, dot: Any, final: Any) -> Any:
        outer, self.current = self.current, cmd
        try:
            return self._command(cmd, dot, final)
        finally:
            self.current = outer

    def _command(self, cmd: _Command, dot: Any, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _Func):
            if first.name in ("and", "or"):
                return self.and_or(first.name, cmd, dot, final)
            args = [self.arg(a, dot, cmd.pos) for a in cmd.args[1:]]
            if final is not _NOARG:
                args.append(final)
            try:
                return self.funcs[first.name](*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError, IndexError, re.error, OverflowError, ZeroDivisionError) as e:
                raise self.fail(cmd.pos, f"error calling {first.name}: {_go_error(e)}") from None
        if len(cmd.args) > 1 or final is not _NOARG:
            if isinstance(first, (_Var, _Field, _Chain)) and first.fields:
                method = method_of(self.receiver(first, dot, cmd.pos), first.fields[-1])
                if method is not None:   # `.CommonLabels.Remove .GroupLabels.Names`
                    args = [self.arg(a, dot, cmd.pos) for a in cmd.args[1:]]
                    if final is not _NOARG:
                        args.append(final)
                    try:
                        return method(*args)
                    except (TypeError, ValueError) as e:
                        raise self.fail(cmd.pos, f"error calling {first.fields[-1]}: {_go_error(e)}") from None
                raise self.fail(cmd.pos, f"{first.fields[-1]} is not a method but has arguments")
            raise self.fail(cmd.pos, f"can't give argument to non-function {_describe(first)}")
        return self.arg(first, dot, cmd.pos)

    def and_or(self, name: str, cmd: _Command, dot: Any, final: Any) -> Any:
        # Go 1.18+: short-circuit, returns the deciding argument itself
        nodes = list(cmd.args[1:])
        if len(nodes) + (final is not _NOARG) == 0:
            raise self.fail(cmd.pos, f"wrong number of args for {name}: want at least 1 got 0")
        value: Any = None
        for i in range(len(nodes) + (final is not _NOARG)):
            value = self.arg(nodes[i], dot, cmd.pos) if i < len(nodes) else final
            if truth(value) == (name == "or"):
                return value
        return value

    def arg(self, node: Any, dot: Any, pos: int) -> Any:
        if isinstance(node, _Const):
            return node.value
        if isinstance(node, _Var):
            value: Any = None
            for name, v in reversed(self.vars):
                if name == node.name:
                    value = v
                    break
            return self.fields(value, node.fields, pos, node.name)
        if isinstance(node, _Field):
            return self.fields(dot, node.fields, pos, "")
        if isinstance(node, _Pipe):
            mark = len(self.vars)
            try:
                return self.pipe(node, dot)
            finally:
                del self.vars[mark:]
        if isinstance(node, _Chain):
            return self.fields(self.arg(node.node, dot, pos), node.fields, pos, "(...)")
        raise self.fail(pos, f"can't evaluate {_describe(node)} as a value; it takes arguments")

    def receiver(self, node: _Var | _Field | _Chain, dot: Any, pos: int) -> Any:
        """What the last field of `node` is looked up on (the receiver of a method call)."""
        if isinstance(node, _Field):
            return self.fields(dot, node.fields[:-1], pos, "")
        if isinstance(node, _Var):
            return self.arg(_Var(node.name, node.fields[:-1]), dot, pos)
        return self.fields(self.arg(node.node, dot, pos), node.fields[:-1], pos, "(...)")

    def fields(self, value: Any, names: tuple[str, ...], pos: int, base: str) -> Any:
        path = base
        for name in names:
            path += "." + name
            method = method_of(value, name)
            if method is not None:     # an allow-listed method without arguments (.Alerts.Firing)
                value = method()
            elif isinstance(value, Mapping):
                # Prometheus runs templates with missingkey=zero: a missing label is ""
                value = value.get(name, "" if _is_label_map(value) else None)
            elif isinstance(value, (QuerySample, AlertTemplateData, Pair)) and name in value.__dataclass_fields__:
                value = getattr(value, name)
            elif value is None:
                raise self.fail(pos, f"nil pointer evaluating {path}")
            else:
                raise self.fail(pos, f"can't evaluate field {name} in type {go_type(value)}")
        return value


def _describe(node: Any) -> str:
    if isinstance(node, _Var):
        return node.name + "".join("." + f for f in node.fields)
    if isinstance(node, _Field):
        return "." + ".".join(node.fields)
    if isinstance(node, _Const):
        return repr(node.value)
    return type(node).__name__.strip("_").lower()


def _go_error(e: Exception) -> str:
    return str(e.args[0]) if e.args else type(e).__name__


# --------------------------------------------------------------------------- public API

_STANDARD_VARS = {"$labels", "$externalLabels", "$externalURL", "$value"}
_parse_cache: dict[tuple[str, frozenset[str], bool], tuple[list[Any], dict[str, Define]]] = {}


def _parse_all(text: str, name: str, variables: frozenset[str], named_templates: bool = False) -> tuple[list[Any], dict[str, Define]]:
    """Top-level nodes and the templates `text` defines (cached: the same text is rendered often).
    `named_templates` allows define/template/block (notification templates; rules reject them)."""
    key = (text, variables, named_templates)
    parsed = _parse_cache.get(key)
    if parsed is None:
        parser = _Parser(text, name, set(variables), named_templates)
        parsed = (parser.parse(), parser.defines)
        if len(_parse_cache) > 4096:   # bounded: rule annotations are few, but reloads add new ones
            _parse_cache.clear()
        _parse_cache[key] = parsed
    return parsed


def _parse(text: str, name: str, variables: frozenset[str]) -> list[Any]:
    return _parse_all(text, name, variables)[0]


def check(text: str, *, extra_vars: tuple[str, ...] = (), name: str = "template", named_templates: bool = False) -> None:
    """Parse `text` (load-time validation); raises TemplateError on a syntax error,
    an unknown function or an undefined variable. `extra_vars` names `extra` variables
    (without `$`) that will be supplied at render time. `named_templates` allows
    define/template/block (notification fields); rule templates reject them."""
    _Parser(text, name, _STANDARD_VARS | {"$" + v for v in extra_vars}, named_templates).parse()


def render(
    text: str,
    *,
    labels: Mapping[str, str],
    value: float | str = float("nan"),
    external_labels: Mapping[str, str] = {},
    query: Callable[[str], list[Sample]] | None = None,
    extra: Mapping[str, Any] = {},
    external_url: str = "",
    name: str = "template",
) -> str:
    """Expand `text` with Prometheus's alert template data; raises TemplateError."""
    if "{{" not in text:
        return text
    variables = frozenset(_STANDARD_VARS | {"$" + k for k in extra})
    try:
        nodes, defines = _parse_all(text, name, variables)
    except TemplateError as e:
        raise TemplateError(f"error parsing template {name}: {e}") from None
    labels = dict(labels)
    ext = dict(external_labels)
    data = AlertTemplateData(labels, ext, external_url, value)
    funcs = dict(_FUNCS)
    funcs["query"] = _make_query(query)
    ex = _Exec(text, name, funcs, defines)
    ex.vars = [("$", data), ("$labels", labels), ("$externalLabels", ext), ("$externalURL", external_url), ("$value", value)]
    ex.vars.extend(("$" + k, v) for k, v in extra.items())
    try:
        ex.run(nodes, data)
    except TemplateError as e:
        raise TemplateError(f"error executing template {name}: {e}") from None
    return "".join(ex.out)


def render_data(text: str, data: Any, *, name: str = "template", templates: Mapping[str, Define] | None = None,
                now: float | None = None) -> str:
    """Expand `text` with `data` as `.` and `$` and no alert variables bound (notification
    templates, whose data is a notice, not one alert); raises TemplateError unprefixed.

    `templates` are the named templates `{{ template "x" . }}` can call (a TemplateSet's
    `defines`); definitions in `text` itself override them. `now` (unix seconds) is what
    `since` measures against; without it `since` is an error."""
    nodes, own = _parse_all(text, name, frozenset(_STANDARD_VARS), named_templates=True)
    defines = {**(templates or {}), **own} if own else (templates or {})
    funcs = dict(_FUNCS)
    if now is not None:
        funcs["since"] = make_since(now)
    ex = _Exec(text, name, funcs, defines)
    ex.vars = [("$", data)]
    ex.run(nodes, data)
    return "".join(ex.out)


def _make_query(query: Callable[[str], list[Sample]] | None) -> Callable[[str], list[QuerySample]]:
    def run_query(expr: str) -> list[QuerySample]:
        if query is None:
            raise ValueError("query is not available in this template")
        if not isinstance(expr, str):
            raise TypeError(f"wrong type for value; expected string; got {go_type(expr)}")
        try:
            result = query(expr)
        except Exception as e:  # a failing query is a template error, never a crash
            raise ValueError(str(e)) from None
        return [QuerySample(s.labels.to_dict(), s.value) for s in result]

    return run_query


__all__ = [
    "AlertTemplateData", "GoTime", "QuerySample", "TemplateError", "check", "go_float", "go_quote", "go_sprint_value",
    "go_sprintf", "go_type", "humanize", "humanize1024", "humanize_duration", "humanize_percentage", "humanize_timestamp",
    "re_replace_all", "render", "render_data", "to_time", "truth",
]
