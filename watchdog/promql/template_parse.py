"""Lexer and parser of the Go text/template subset: template text -> node tree.

Part of watchdog.promql.template (split for size; behaviour unchanged).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from watchdog.promql.template_format import TemplateError, go_quote
from watchdog.promql.template_funcs import _FUNCS


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


@dataclass(slots=True)
class _Template:       # {{ template "name" pipeline }} (and the call half of {{ block }})
    name: str
    pipe: _Pipe | None
    pos: int
    source: str


@dataclass(slots=True)
class Define:
    """A named template: its nodes plus the text and name its positions refer to."""

    nodes: list[Any]
    text: str
    source_name: str
    # computed in Python from the dot (our default messages); None from it means "run `nodes`"
    native: Any = None


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, name: str, known_vars: set[str], named_templates: bool = False):
        self.text = text
        # define/template/block: notification templates only; rule templates keep rejecting them
        self.named_templates = named_templates
        self.name = name
        self.items = _split(text, name)
        self.i = 0
        self.scopes: list[list[str]] = [sorted(known_vars | {"$"})]
        self.range_depth = 0
        self.toks: list[_Tok] = []
        self.t = 0
        self.defines: dict[str, Define] = {}
        self.depth = 0       # nesting of if/with/range ({{define}} only at depth 0)

    def fail(self, pos: int, msg: str) -> TemplateError:
        err = TemplateError(f"template: {self.name}:{_line_col(self.text, pos)}: {msg}")
        line, col = _line_col(self.text, pos).split(":")
        err.line, err.col = int(line), int(col)   # type: ignore[attr-defined] (config errors are located)
        return err

    def parse(self) -> list[Any]:
        """The top-level nodes; `{{ define }}`d and `{{ block }}`ed templates land in `self.defines`."""
        body, stop = self.list_until(())
        return body

    def template_name(self, word: str) -> str:
        tok = self.next()
        if tok.kind not in ("string", "raw"):
            raise self.fail(tok.pos, f"unexpected {tok.text or 'end'!r} in {word} clause")
        return _parse_string(tok.text, self.fail(tok.pos, f"bad string syntax: {tok.text!r}"))

    def define_body(self, name: str) -> list[Any]:
        """A template body: its own variable scope (only `$`), outside any range."""
        scopes, range_depth = self.scopes, self.range_depth
        self.scopes, self.range_depth = [["$"]], 0
        try:
            body, _ = self.list_until(("end",))
            self.expect_eof()
        finally:
            self.scopes, self.range_depth = scopes, range_depth
        return body

    def keyword_template(self, word: str, first: _Tok, top_level: bool) -> list[Any]:
        """define / template / block: the nodes they leave in place (none for define)."""
        self.t = 1
        if word == "define":
            if not top_level:
                raise self.fail(first.pos, "unexpected {{define}}: only allowed at the top level")
            name = self.template_name(word)
            self.expect_eof()
            self.defines[name] = Define(self.define_body(name), self.text, self.name)
            return []
        name = self.template_name(word)
        pipe = None
        if self.peek().kind != "eof":
            pipe = self.pipeline(word)
        elif word == "block":
            raise self.fail(first.pos, "missing pipeline in block clause")
        source = self.text[first.pos : self.peek().pos].strip()
        if word == "block":
            body = self.define_body(name)
            self.defines.setdefault(name, Define(body, self.text, self.name))
        return [_Template(name, pipe, first.pos, source)]

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
                if word in ("define", "template", "block") and self.named_templates:
                    nodes += self.keyword_template(word, first, top_level=not stops and self.depth == 0)
                    continue
                if word in ("else", "end"):
                    raise self.fail(first.pos, f"unexpected {{{{{word}}}}}")
                raise self.fail(first.pos, f"{{{{{word}}}}} is not supported")
            nodes.append(_Action(self.pipeline("command")))
        if stops:
            raise self.fail(len(self.text), "unexpected EOF")
        return nodes, ("", None)

    def branch(self, kind: str, tok: _Tok) -> _Branch:
        self.depth += 1
        try:
            return self._branch(kind, tok)
        finally:
            self.depth -= 1

    def _branch(self, kind: str, tok: _Tok) -> _Branch:
        self.scopes.append([])
        if kind == "range":
            self.range_depth += 1
        pipe = self.pipeline(kind)
        body, (stop, _) = self.list_until(("else", "end"))
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
