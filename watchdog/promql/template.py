"""A safe interpreter for the Go text/template subset Prometheus rule templates use.

Rule annotations (and remediation arguments) are written in Go template
syntax: `{{ $labels.instance }} is down ({{ $value | humanize }})`. We parse
and interpret that language ourselves, so a template can only read the data
it is given and call the functions in `_FUNCS`: no attribute access on Python
objects, no eval, no files, no imports.

Output follows Go's formatting where operators can see it (`{{ $value }}`
prints a float like Go's `%v`: 1 -> "1", 1e6 -> "1e+06"; a missing label
prints "<no value>"), so annotations read exactly as under Prometheus.

Layout: lexer -> parser (nodes) -> interpreter -> Go value formatting
(`%v`, printf) -> the function table. One file so that the whole surface a
template can reach is visible in one place.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from watchdog.model import Sample


class TemplateError(Exception):
    """A template failed to parse or to execute; the message is Go-like."""


MAX_OUTPUT = 1 << 20      # a template cannot produce more than 1 MiB
MAX_STEPS = 200_000       # nor run forever (range over a huge query result)


# --------------------------------------------------------------------------- lexer

_TRIM = " \t\r\n"
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
_TOKEN_RE = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<declare>:=)
  | (?P<punct>[|(),=])
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_]))
  | (?P<variable>\$[A-Za-z0-9_]*)
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


@dataclass(slots=True)
class _Tok:
    kind: str       # space-stripped token kind (see _TOKEN_RE) or "eof"
    text: str
    pos: int        # offset in the whole template (for line:col in errors)
    glued: bool     # no whitespace before it (`$x.y` chains a field; `$x .y` does not)


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{col}"


def _split(text: str, name: str) -> list[tuple[str, str, int]]:
    """Text into [("text", s, pos) | ("action", inner, pos)], applying `{{-`/`-}}` trimming."""
    out: list[tuple[str, str, int]] = []
    i = 0
    trim_next = False
    while True:
        start = text.find("{{", i)
        chunk = text[i:] if start < 0 else text[i:start]
        if trim_next:
            chunk = chunk.lstrip(_TRIM)
        if start < 0:
            if chunk:
                out.append(("text", chunk, i))
            return out
        inner_start = start + 2
        if text.startswith("-", inner_start) and inner_start + 1 < len(text) and text[inner_start + 1] in _TRIM:
            chunk = chunk.rstrip(_TRIM)
            inner_start += 1
        if chunk:
            out.append(("text", chunk, i))
        # find the closing braces outside string literals and comments
        j = inner_start
        while True:
            if j >= len(text):
                raise TemplateError(f"template: {name}:{_line_col(text, start)}: unclosed action")
            c = text[j]
            if text.startswith("/*", j):
                k = text.find("*/", j + 2)
                if k < 0:
                    raise TemplateError(f"template: {name}:{_line_col(text, j)}: unclosed comment")
                j = k + 2
                continue
            if c in "\"'`":
                m = _TOKEN_RE.match(text, j)
                if not m or m.end() == j:
                    raise TemplateError(f"template: {name}:{_line_col(text, j)}: unterminated quoted string")
                j = m.end()
                continue
            if text.startswith("}}", j):
                break
            j += 1
        end = j
        trim_next = False
        if end - 1 >= inner_start and text[end - 1] == "-" and end - 2 >= inner_start and text[end - 2] in _TRIM:
            end -= 1
            trim_next = True
        out.append(("action", text[inner_start:end], inner_start))
        i = j + 2


def _lex_action(text: str, inner: str, pos: int, name: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    glued = False
    stripped = inner.strip(_TRIM)
    if stripped.startswith("/*"):
        if not stripped.endswith("*/"):
            raise TemplateError(f"template: {name}:{_line_col(text, pos)}: comment ends before closing delimiter")
        return [_Tok("comment", stripped, pos, False)]
    while i < len(inner):
        m = _TOKEN_RE.match(inner, i)
        if not m:
            raise TemplateError(f"template: {name}:{_line_col(text, pos + i)}: unexpected {inner[i]!r} in command")
        kind = m.lastgroup or ""
        if kind == "space":
            glued = False
        else:
            if kind == "ident" and m.group() in ("true", "false"):
                kind = "bool"
            elif kind == "ident" and m.group() == "nil":
                kind = "nil"
            elif kind == "ident" and m.group() in _KEYWORDS:
                kind = "keyword"
            toks.append(_Tok(kind, m.group(), pos + i, glued or not toks))
            glued = True
        i = m.end()
    toks.append(_Tok("eof", "", pos + len(inner), False))
    return toks


# --------------------------------------------------------------------------- nodes


@dataclass(slots=True)
class _Const:
    value: Any


@dataclass(slots=True)
class _Var:
    name: str
    fields: tuple[str, ...] = ()


@dataclass(slots=True)
class _Field:          # .A.B on dot; () fields is dot itself
    fields: tuple[str, ...]


@dataclass(slots=True)
class _Chain:          # (pipeline).A.B
    node: Any
    fields: tuple[str, ...]


@dataclass(slots=True)
class _Func:
    name: str


@dataclass(slots=True)
class _Command:
    args: list[Any]
    pos: int
    source: str = ""   # the command as written, for "at <...>" in errors


@dataclass(slots=True)
class _Pipe:
    decl: list[str]
    assign: bool       # `=` rather than `:=`
    cmds: list[_Command]
    pos: int


@dataclass(slots=True)
class _Text:
    text: str


@dataclass(slots=True)
class _Action:
    pipe: _Pipe


@dataclass(slots=True)
class _Branch:         # if / with / range
    kind: str
    pipe: _Pipe
    body: list[Any]
    else_body: list[Any] | None


@dataclass(slots=True)
class _Loop:           # break / continue
    kind: str


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, name: str, known_vars: set[str]):
        self.text = text
        self.name = name
        self.items = _split(text, name)
        self.i = 0
        self.scopes: list[list[str]] = [sorted(known_vars | {"$"})]
        self.range_depth = 0
        self.toks: list[_Tok] = []
        self.t = 0

    def fail(self, pos: int, msg: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{_line_col(self.text, pos)}: {msg}")

    def parse(self) -> list[Any]:
        body, stop = self.list_until(())
        return body

    # a list of nodes until one of the `stops` keywords (else/end) appears
    def list_until(self, stops: tuple[str, ...]) -> tuple[list[Any], tuple[str, _Tok | None]]:
        nodes: list[Any] = []
        while self.i < len(self.items):
            kind, chunk, pos = self.items[self.i]
            self.i += 1
            if kind == "text":
                nodes.append(_Text(chunk))
                continue
            self.toks = _lex_action(self.text, chunk, pos, self.name)
            self.t = 0
            first = self.toks[0]
            if first.kind == "comment":
                continue
            if first.kind == "eof":
                raise self.fail(pos, "missing value for command")
            if first.kind == "keyword":
                word = first.text
                if word in stops:
                    self.t = 1
                    return nodes, (word, first)
                if word in ("if", "with", "range"):
                    self.t = 1
                    nodes.append(self.branch(word, first))
                    continue
                if word in ("break", "continue"):
                    if not self.range_depth:
                        raise self.fail(first.pos, f"{{{{{word}}}}} outside {{{{range}}}}")
                    self.t = 1
                    self.expect_eof()
                    nodes.append(_Loop(word))
                    continue
                if word in ("else", "end"):
                    raise self.fail(first.pos, f"unexpected {{{{{word}}}}}")
                raise self.fail(first.pos, f"{{{{{word}}}}} is not supported")
            nodes.append(_Action(self.pipeline("command")))
        if stops:
            raise self.fail(len(self.text), "unexpected EOF")
        return nodes, ("", None)

    def branch(self, kind: str, tok: _Tok) -> _Branch:
        self.scopes.append([])
        if kind == "range":
            self.range_depth += 1
        pipe = self.pipeline(kind)
        body, (stop, stop_tok) = self.list_until(("else", "end"))
        if kind == "range":
            self.range_depth -= 1
        else_body = None
        if stop == "else":
            nxt = self.toks[self.t]
            if nxt.kind == "keyword" and nxt.text in ("if", "with") and kind in ("if", "with") and nxt.text == kind:
                # `else if` / `else with`: a nested branch that shares our {{end}}
                self.t += 1
                # the else branch sees the variables of our pipeline, not those of our body
                self.scopes[-1] = [v for v in self.scopes[-1] if v in pipe.decl]
                else_body = [self.branch(nxt.text, nxt)]
                self.scopes.pop()
                return _Branch(kind, pipe, body, else_body)
            self.expect_eof()
            self.scopes[-1] = [v for v in self.scopes[-1] if v in pipe.decl]
            else_body, (stop, _) = self.list_until(("end",))
        self.expect_eof()
        self.scopes.pop()
        return _Branch(kind, pipe, body, else_body)

    def expect_eof(self) -> None:
        tok = self.toks[self.t]
        if tok.kind != "eof":
            raise self.fail(tok.pos, f"unexpected {tok.text!r} in end")

    def next(self) -> _Tok:
        tok = self.toks[self.t]
        if tok.kind != "eof":
            self.t += 1
        return tok

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.t + k, len(self.toks) - 1)]

    def pipeline(self, context: str, end: str = "eof") -> _Pipe:
        start = self.peek().pos
        decl: list[str] = []
        assign = False
        if self.peek().kind == "variable":
            # `$x :=`, `$x =`, `$i, $e :=` (range only)
            if self.peek(1).kind == "declare" or (self.peek(1).text == "=" and self.peek(1).kind == "punct"):
                decl = [self.next().text]
                assign = self.next().text == "="
            elif self.peek(1).text == "," and context == "range" and self.peek(2).kind == "variable" and self.peek(3).kind == "declare":
                decl = [self.next().text]
                self.next()
                decl.append(self.next().text)
                self.next()
        if assign:
            if not self.is_declared(decl[0]):
                raise self.fail(start, f"undefined variable {go_quote(decl[0])}")
        cmds: list[_Command] = []
        while True:
            tok = self.peek()
            if tok.kind == end or (end == ")" and tok.text == ")" and tok.kind == "punct"):
                break
            cmds.append(self.command())
            tok = self.peek()
            if tok.kind == "punct" and tok.text == "|":
                self.next()
                continue
            if tok.kind == end or (tok.kind == "punct" and tok.text == ")"):
                continue
            raise self.fail(tok.pos, f"unexpected {tok.text!r} in operand")
        if end == "eof" and self.peek().kind != "eof":
            raise self.fail(self.peek().pos, f"unexpected {self.peek().text!r}")
        if not cmds:
            raise self.fail(start, f"missing value for {context}")
        if not assign:
            self.scopes[-1].extend(decl)
        return _Pipe(decl, assign, cmds, start)

    def is_declared(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def command(self) -> _Command:
        args: list[Any] = []
        pos = self.peek().pos
        while True:
            tok = self.peek()
            if tok.kind == "eof" or (tok.kind == "punct" and tok.text in "|)"):
                break
            args.append(self.operand())
        if not args:
            raise self.fail(pos, "missing value for command")
        return _Command(args, pos, self.text[pos : self.peek().pos].strip())

    def operand(self) -> Any:
        tok = self.next()
        k = tok.kind
        if k == "number":
            node: Any = _Const(_parse_number(tok.text, self.fail(tok.pos, f"bad number syntax: {tok.text!r}")))
        elif k in ("string", "raw", "char"):
            node = _Const(_parse_string(tok.text, self.fail(tok.pos, f"bad string syntax: {tok.text!r}")))
        elif k == "bool":
            node = _Const(tok.text == "true")
        elif k == "nil":
            node = _Const(None)
        elif k == "variable":
            if not self.is_declared(tok.text):
                raise self.fail(tok.pos, f"undefined variable {go_quote(tok.text)}")
            node = _Var(tok.text)
        elif k == "field":
            node = _Field((tok.text[1:],))
        elif k == "dot":
            node = _Field(())
        elif k == "ident":
            if tok.text not in _FUNCS:
                raise self.fail(tok.pos, f'function "{tok.text}" not defined')
            node = _Func(tok.text)
        elif k == "punct" and tok.text == "(":
            node = self.pipeline("parenthesized pipeline", end=")")
            close = self.next()
            if close.text != ")":
                raise self.fail(close.pos, "unclosed left paren")
        else:
            raise self.fail(tok.pos, f"unexpected {tok.text or 'end'!r} in operand")
        fields: list[str] = []
        while self.peek().kind == "field" and self.peek().glued:
            fields.append(self.next().text[1:])
        if fields:
            if isinstance(node, _Var):
                node = _Var(node.name, tuple(fields))
            elif isinstance(node, _Field):
                node = _Field(node.fields + tuple(fields))
            elif isinstance(node, (_Pipe,)):
                node = _Chain(node, tuple(fields))
            else:
                raise self.fail(tok.pos, f"unexpected . after term {tok.text!r}")
        return node


def _parse_number(text: str, err: TemplateError) -> int | float:
    t = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+", t):
            return int(t, 16)
        if re.fullmatch(r"[+-]?[0-9]+", t):
            return int(t, 10)
        return float(t)
    except ValueError:
        raise err from None


def _parse_string(text: str, err: TemplateError) -> Any:
    if text.startswith("`"):
        return text[1:-1]
    body = text[1:-1]
    out = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1] if i + 1 < len(body) else ""
        if e in ("x", "u", "U"):
            n = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + n]
            if len(digits) != n or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise err
            out.append(chr(int(digits, 16)))
            i += 2 + n
        elif e in simple:
            out.append(simple[e])
            i += 2
        else:
            raise err
    s = "".join(out)
    if text.startswith("'"):     # a Go rune constant is an int
        if len(s) != 1:
            raise err
        return ord(s)
    return s


# --------------------------------------------------------------------------- interpreter


@dataclass(frozen=True, slots=True)
class QuerySample:
    """What `query` returns per element (Prometheus's template `sample`: .Labels, .Value)."""

    Labels: Mapping[str, str]
    Value: float


@dataclass(frozen=True, slots=True)
class AlertTemplateData:
    """The dot of an alert template (Prometheus's AlertTemplateData)."""

    Labels: Mapping[str, str]
    ExternalLabels: Mapping[str, str]
    ExternalURL: str
    Value: Any


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exec:
    def __init__(self, text: str, name: str, funcs: Mapping[str, Callable[..., Any]]):
        self.text = text
        self.name = name
        self.funcs = funcs
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
            else:
                raise _Break() if node.kind == "break" else _Continue()

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

    def fields(self, value: Any, names: tuple[str, ...], pos: int, base: str) -> Any:
        path = base
        for name in names:
            path += "." + name
            if isinstance(value, Mapping):
                # Prometheus runs templates with missingkey=zero: a missing label is ""
                value = value.get(name, "" if _is_label_map(value) else None)
            elif isinstance(value, (QuerySample, AlertTemplateData)) and name in value.__dataclass_fields__:
                value = getattr(value, name)
            elif value is None:
                raise self.fail(pos, f"nil pointer evaluating {path}")
            else:
                raise self.fail(pos, f"can't evaluate field {name} in type {go_type(value)}")
        return value


_NOARG = object()


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


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil, empty string/map/slice are false."""
    if value is None or value is _NOARG:
        return False
    if isinstance(value, (bool, int, float, str, Mapping, list, tuple)):
        return bool(value)
    return True


# --------------------------------------------------------------------------- public API

_STANDARD_VARS = {"$labels", "$externalLabels", "$externalURL", "$value"}
_parse_cache: dict[tuple[str, frozenset[str]], list[Any]] = {}


def _parse(text: str, name: str, variables: frozenset[str]) -> list[Any]:
    key = (text, variables)
    nodes = _parse_cache.get(key)
    if nodes is None:
        nodes = _Parser(text, name, set(variables)).parse()
        if len(_parse_cache) > 4096:   # bounded: rule annotations are few, but reloads add new ones
            _parse_cache.clear()
        _parse_cache[key] = nodes
    return nodes


def check(text: str, *, extra_vars: tuple[str, ...] = (), name: str = "template") -> None:
    """Parse `text` (load-time validation); raises TemplateError on a syntax error,
    an unknown function or an undefined variable. `extra_vars` names `extra` variables
    (without `$`) that will be supplied at render time."""
    _Parser(text, name, _STANDARD_VARS | {"$" + v for v in extra_vars}).parse()


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
        nodes = _parse(text, name, variables)
    except TemplateError as e:
        raise TemplateError(f"error parsing template {name}: {e}") from None
    labels = dict(labels)
    ext = dict(external_labels)
    data = AlertTemplateData(labels, ext, external_url, value)
    funcs = dict(_FUNCS)
    funcs["query"] = _make_query(query)
    ex = _Exec(text, name, funcs)
    ex.vars = [("$", data), ("$labels", labels), ("$externalLabels", ext), ("$externalURL", external_url), ("$value", value)]
    ex.vars.extend(("$" + k, v) for k, v in extra.items())
    try:
        ex.run(nodes, data)
    except TemplateError as e:
        raise TemplateError(f"error executing template {name}: {e}") from None
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

# --------------------------------------------------------------------------- Go value formatting


def go_type(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, QuerySample):
        return "*template.sample"
    if isinstance(v, GoTime):
        return "*time.Time"
    if isinstance(v, AlertTemplateData):
        return "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }"
    if isinstance(v, Mapping):
        return "map[string]string" if all(isinstance(x, str) for x in v.values()) else "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "template.queryResult" if v and all(isinstance(x, QuerySample) for x in v) else "[]interface {}"
    return type(v).__name__


def go_float(f: float, fmt: str = "g") -> str:
    """Go's strconv.FormatFloat(f, 'g', -1, 64), which `%v` and `{{ $value }}` use."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    r = repr(abs(f))
    mantissa, _, exp_text = r.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # decimal point position relative to the start of `digits`
    dp = len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    dp += int(exp_text or 0)
    digits = digits.rstrip("0") or "0"
    sign = "-" if f < 0 else ""
    exp = dp - 1
    if exp < -4 or exp >= 21 if fmt == "v21" else exp < -4 or exp >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    nd = len(digits)
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= nd:
        return f"{sign}{digits}{'0' * (dp - nd)}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _py_float_fmt(spec: str, f: float) -> str:
    """`%`-format a float with Go's spelling of NaN and infinities."""
    if math.isnan(f) or math.isinf(f):
        word = "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
        width = re.match(r"%[-+# 0]*(\d*)", spec)
        w = int(width.group(1)) if width and width.group(1) else 0
        return word.ljust(w) if "-" in spec else word.rjust(w)
    return spec % f


def _g4(v: float) -> str:
    """Go's fmt.Sprintf("%.4g", v)."""
    return _py_float_fmt("%.4g", v)


@dataclass(frozen=True, slots=True)
class GoTime:
    """A time.Time as templates see it (prints as Go's Time.String() in UTC)."""

    unix_nanos: int

    def __str__(self) -> str:
        import datetime as _dt

        secs, nanos = divmod(self.unix_nanos, 1_000_000_000)
        t = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=secs)
        frac = f".{nanos:09d}".rstrip("0") if nanos else ""
        return t.strftime("%Y-%m-%d %H:%M:%S") + frac + " +0000 UTC"


def go_sprint_value(v: Any) -> str:
    """How text/template prints a value (fmt.Fprint)."""
    if v is None or v is _NOARG:
        return "<no value>"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{_inner(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_inner(x) for x in v) + "]"
    if isinstance(v, QuerySample):   # Go prints the struct a *sample points to
        return "{" + _inner(v.Labels) + " " + _inner(v.Value) + "}"
    return str(v)


def _is_label_map(v: Mapping[str, Any]) -> bool:
    return all(isinstance(x, str) for x in v.values())


def _inner(v: Any) -> str:
    return "<nil>" if v is None else go_sprint_value(v)


def go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_VERB_RE = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])")


def go_sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs templates use: %v %s %d %f %e %g %q %x %X %t %c %o %b %%."""
    if not isinstance(fmt, str):
        raise TypeError(f"wrong type for value; expected string; got {go_type(fmt)}")
    out: list[str] = []
    i = 0
    n = 0
    for m in _VERB_RE.finditer(fmt):
        out.append(fmt[i : m.start()])
        i = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_one(flags, width, prec, verb, args[n]))
        n += 1
    out.append(fmt[i:])
    if n < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{go_type(a)}={_inner(a)}" for a in args[n:]) + ")")
    return "".join(out)


def _pad(s: str, flags: str, width: str | None) -> str:
    w = int(width) if width else 0
    return s.ljust(w) if "-" in flags else s.rjust(w)


def _format_one(flags: str, width: str | None, prec: str | None, verb: str, a: Any) -> str:
    if verb == "v":   # Go: %+v and %#v change how structs print, never a number's sign
        flags = flags.replace("+", "").replace("#", "")
    spec = "%" + flags + (width or "") + ("." + prec if prec is not None else "")
    bad = f"%!{verb}(<nil>)" if a is None else f"%!{verb}({go_type(a)}={_inner(a)})"
    if isinstance(a, bool):
        return _pad("true" if a else "false", flags, width) if verb in "vt" else bad
    if isinstance(a, int):
        if verb in "vd":
            return (spec + "d") % a
        if verb in "xX":
            return (spec + verb) % a
        if verb in "ob":   # Go's alternate forms are 017 and 0b101
            digits = format(abs(a), verb)
            prefix = ("0" if verb == "o" else "0b") if "#" in flags else ""
            return _pad(("-" if a < 0 else "") + prefix + digits, flags, width)
        if verb == "c":
            return _pad(chr(a), flags, width)
        if verb == "q":
            return _pad("'" + go_quote(chr(a))[1:-1].replace("'", "\\'") + "'", flags, width)
        return bad
    if isinstance(a, float):
        if verb == "v" or (verb in "gG" and prec is None):
            s = go_float(a)
            if "+" in flags and not s.startswith(("-", "+")):
                s = "+" + s
            return _pad(s.upper() if verb == "G" else s, flags, width)
        if verb in "fFeEgG":
            return _py_float_fmt(spec + verb.replace("F", "f"), a)
        return bad
    if isinstance(a, str):
        if verb in "vs":
            return (spec + "s") % a
        if verb == "q":
            return _pad(go_quote(a), flags, width)
        if verb in "xX":
            h = a.encode().hex()
            return _pad(h.upper() if verb == "X" else h, flags, width)
        return bad
    if verb in "vs" and a is not None:
        return _pad(go_sprint_value(a), flags, width)
    return bad


# --------------------------------------------------------------------------- functions


def _to_float(v: Any) -> float:
    """Prometheus's convertToFloat: float, int, or a string strconv.ParseFloat accepts."""
    if isinstance(v, bool):
        raise TypeError("can't convert bool to float")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        t = v
        if "_" in t or not re.fullmatch(r"[+-]?(?:inf(?:inity)?|nan|[0-9.]+(?:[eE][+-]?[0-9]+)?|0[xX][0-9a-fA-F.]+(?:[pP][+-]?[0-9]+)?)", t, re.I):
            raise ValueError(f'strconv.ParseFloat: parsing {go_quote(v)}: invalid syntax')
        try:
            return float.fromhex(t) if t.lower().lstrip("+-").startswith("0x") else float(t)
        except ValueError:
            raise ValueError(f'strconv.ParseFloat: parsing {go_quote(v)}: invalid syntax') from None
    raise TypeError(f"can't convert {go_type(v)} to float")


def _str(v: Any, what: str = "string") -> str:
    if v is None:
        raise TypeError(f"invalid value; expected {what}")
    if not isinstance(v, str):
        raise TypeError(f"wrong type for value; expected {what}; got {go_type(v)}")
    return v


_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")


def humanize(x: Any) -> str:
    v = _to_float(x)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return _g4(v) + prefix
    prefix = ""
    for p in _SMALL:
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return _g4(v) + prefix


def humanize1024(x: Any) -> str:
    v = _to_float(x)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return _g4(v) + prefix


def humanize_duration(x: Any) -> str:
    v = _to_float(x)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        d = int(v)
        seconds, minutes, hours, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in _SMALL:
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(x: Any) -> str:
    return _g4(_to_float(x) * 100) + "%"


def _to_time(x: Any) -> GoTime | None:
    v = _to_float(x)
    if math.isnan(v) or math.isinf(v):
        return None
    nanos = v * 1e9
    if not -(2**63) <= nanos < 2**63:
        raise ValueError(f"{go_float(v)} cannot be represented as a nanoseconds timestamp since it overflows int64")
    return GoTime((int(nanos) // 1_000_000) * 1_000_000)   # model.Time has millisecond resolution


def humanize_timestamp(x: Any) -> str:
    t = _to_time(x)
    return _g4(_to_float(x)) if t is None else str(t)


def to_time(x: Any) -> GoTime:
    t = _to_time(x)
    if t is None:
        raise ValueError("value is NaN or Inf")
    return t


def _title(s: Any) -> str:
    s = _str(s)
    out = []
    prev = " "
    for ch in s:
        sep = (not (prev.isalnum() or prev == "_")) if prev.isascii() else prev.isspace()
        out.append(ch.upper() if sep else ch)
        prev = ch
    return "".join(out)


_EXPAND_RE = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _go_expand(m: re.Match[str], template: str) -> str:
    """regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`; unknown groups expand to ""."""

    def repl(t: re.Match[str]) -> str:
        if t.group(0) == "$$":
            return "$"
        name = t.group(1) or t.group(2)
        try:
            g = m.group(int(name)) if name.isdigit() else m.group(name)
        except (IndexError, KeyError):
            return ""
        return g or ""

    return _EXPAND_RE.sub(repl, template)


def re_replace_all(pattern: Any, repl: Any, text: Any) -> str:
    rx = _compile(_str(pattern))
    template, s = _str(repl), _str(text)
    return rx.sub(lambda m: _go_expand(m, template), s)


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"regexp: Compile(`{pattern}`): error parsing regexp: {e.msg}: `{pattern}`") from None


def _match(pattern: Any, text: Any) -> bool:
    return _compile(_str(pattern)).search(_str(text)) is not None


def _kind(v: Any) -> str | None:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return None


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TypeError("missing argument for comparison")
    for b in others:
        if a is None or b is None:
            if a is None and b is None:
                return True
            continue
        ka, kb = _kind(a), _kind(b)
        if ka is None or kb is None:
            raise TypeError("invalid type for comparison")
        if ka != kb:
            raise TypeError("incompatible types for comparison")
        if a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka in (None, "bool") or kb in (None, "bool"):
        raise TypeError("invalid type for comparison")
    if ka != kb:
        raise TypeError("incompatible types for comparison")
    return a < b


def _len(v: Any) -> int:
    if isinstance(v, (str, Mapping, list, tuple)):
        return len(v.encode() if isinstance(v, str) else v)
    raise TypeError(f"len of type {go_type(v)}")


def _index(item: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(item, Mapping):
            if not isinstance(k, str):
                raise TypeError(f"value has type {go_type(k)}; should be string")
            item = item.get(k, "" if go_type(item) == "map[string]string" else None)
        elif isinstance(item, (list, tuple, str)):
            if isinstance(k, bool) or not isinstance(k, int):
                raise TypeError(f"cannot index slice/array with type {go_type(k)}")
            if not 0 <= k < len(item):
                raise IndexError(f"index out of range: {k}")
            item = item[k] if not isinstance(item, str) else item.encode()[k]
        else:
            raise TypeError(f"can't index item of type {go_type(item)}")
    return item


def _sprint(*args: Any) -> str:
    # fmt.Sprint: a space between operands when neither is a string
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_inner(a))
    return "".join(out)


def _first(v: Any) -> QuerySample:
    if not isinstance(v, (list, tuple)):
        raise TypeError(f"wrong type for value; expected template.queryResult; got {go_type(v)}")
    if not v:
        raise ValueError("first() called on vector with no elements")
    return v[0]


def _sample(s: Any) -> QuerySample:
    if not isinstance(s, QuerySample):
        raise TypeError(f"wrong type for value; expected *template.sample; got {go_type(s)}")
    return s


def _sort_by_label(label: Any, v: Any) -> list[QuerySample]:
    name = _str(label)
    return sorted(v, key=lambda s: _sample(s).Labels.get(name, ""))


def _strip_port(host_port: Any) -> str:
    s = _str(host_port)
    host, port, ok = _split_host_port(s)
    return host if ok else s


def _strip_domain(host_port: Any) -> str:
    s = _str(host_port)
    host, port, ok = _split_host_port(s)
    if not ok:
        host, port = s, ""
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return s
    except ValueError:
        pass
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def _split_host_port(s: str) -> tuple[str, str, bool]:
    """net.SplitHostPort (enough of it): "h:p", "[v6]:p"."""
    if s.startswith("["):
        end = s.find("]")
        if end < 0 or not s[end + 1 :].startswith(":") or ":" in s[end + 2 :]:
            return s, "", False
        return s[1:end], s[end + 2 :], True
    if s.count(":") != 1:
        return s, "", False
    host, port = s.split(":")
    return host, port, True


def _html_escape(*args: Any) -> str:
    s = _sprint(*args)
    return s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("\0", "\uFFFD")


def _urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus(_sprint(*args), safe="")


def _parse_duration(d: Any) -> float:
    from watchdog.durations import parse_duration

    return parse_duration(_str(d))


_FUNCS: dict[str, Callable[..., Any]] = {
    # Go text/template builtins
    "and": lambda *a: None, "or": lambda *a: None,   # evaluated lazily by _Exec.and_or
    "not": lambda v: not truth(v),
    "len": _len,
    "index": _index,
    "print": _sprint,
    "printf": go_sprintf,
    "println": lambda *a: " ".join(_inner(x) for x in a) + "\n",
    "html": _html_escape,
    "urlquery": _urlquery,
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _lt,
    "le": lambda a, b: _lt(a, b) or _eq(a, b),
    "gt": lambda a, b: not (_lt(a, b) or _eq(a, b)),
    "ge": lambda a, b: not _lt(a, b),
    # Prometheus's template functions
    "query": lambda expr: [],   # replaced per render by _make_query
    "first": _first,
    "label": lambda name, s: _sample(s).Labels.get(_str(name), ""),
    "value": lambda s: _sample(s).Value,
    "strvalue": lambda s: _sample(s).Labels.get("__value__", ""),
    "sortByLabel": _sort_by_label,
    "args": lambda *a: {f"arg{i}": v for i, v in enumerate(a)},
    "safeHtml": _str,
    "match": _match,
    "reReplaceAll": re_replace_all,
    "title": _title,
    "toUpper": lambda s: _str(s).upper(),
    "toLower": lambda s: _str(s).lower(),
    "stripPort": _strip_port,
    "stripDomain": _strip_domain,
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
    "humanizeTimestamp": humanize_timestamp,
    "toTime": to_time,
    "parseDuration": _parse_duration,
}
