"""A set of named templates (Go's template set): Alertmanager template files and our defaults.

Every `{{ define "name" }}` of every file goes into one namespace, as with
Go's ParseGlob: a later definition of a name replaces an earlier one (so an
operator's file overrides a default), and each file is also a template named
after its base name. Receiver fields render against the set with
`{{ template "name" . }}`. Parsing happens once, when the files are loaded.

Part of watchdog.promql.template.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from watchdog.promql.template import _parse_all, _STANDARD_VARS, render_data
from watchdog.promql.template_format import TemplateError
from watchdog.promql.template_parse import Define, _Branch, _Template


class TemplateSet:
    """Named templates, immutable once built (`with_*` return a new set)."""

    def __init__(self, defines: dict[str, Define] | None = None):
        self._defines: dict[str, Define] = dict(defines or {})

    @property
    def defines(self) -> dict[str, Define]:
        return dict(self._defines)

    def names(self) -> list[str]:
        return sorted(self._defines)

    def __contains__(self, name: object) -> bool:
        return name in self._defines

    def with_text(self, text: str, name: str) -> "TemplateSet":
        """This set plus the templates one file's `text` defines; raises TemplateError
        (with `.line`/`.col` when located) when it does not parse."""
        nodes, defines = _parse_all(text, name, frozenset(_STANDARD_VARS), named_templates=True)
        merged = dict(self._defines)
        merged[os.path.basename(name)] = Define(nodes, text, name)
        merged.update(defines)
        return TemplateSet(merged)

    def with_native(self, name: str, native: Callable[[Any], str | None], fallback: str = "") -> "TemplateSet":
        """`name` computed by `native(dot)`; when that returns None, `fallback` (template text) runs."""
        nodes, _ = _parse_all(fallback, name, frozenset(_STANDARD_VARS), named_templates=True)
        merged = dict(self._defines)
        merged[name] = Define(nodes, fallback, name, native)
        return TemplateSet(merged)

    def render(self, text: str, data: Any, *, name: str = "template", now: float | None = None) -> str:
        """Expand `text` with `data` as dot; raises TemplateError."""
        return render_data(text, data, name=name, templates=self._defines, now=now)

    def undefined_names(self, text: str, name: str = "template") -> list[str]:
        """Names `text` calls with {{ template }} (directly or through the set's templates) that
        neither the set nor `text` defines; raises TemplateError when `text` does not parse."""
        nodes, own = _parse_all(text, name, frozenset(_STANDARD_VARS), named_templates=True)
        defines = {**self._defines, **own}
        missing: list[str] = []
        seen: set[str] = set()
        pending = [nodes, *(d.nodes for d in own.values())]
        while pending:
            for called in _called_names(pending.pop()):
                if called in seen:
                    continue
                seen.add(called)
                if called in defines:
                    pending.append(defines[called].nodes)
                else:
                    missing.append(called)
        return sorted(missing)

    def check(self, text: str, name: str = "template") -> None:
        """Raise TemplateError when `text` does not parse (names are resolved at render time)."""
        _parse_all(text, name, frozenset(_STANDARD_VARS), named_templates=True)


def _called_names(nodes: list[Any]) -> list[str]:
    out: list[str] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, _Template):
            out.append(node.name)
        elif isinstance(node, _Branch):
            stack += node.body + (node.else_body or [])
    return out


__all__ = ["TemplateError", "TemplateSet"]
