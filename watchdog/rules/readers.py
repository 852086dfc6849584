"""Which rule groups read a source's series: the groups worth evaluating as soon as a probe result lands.

Pure: built from the groups' expressions (parsed by the engine), asked with
the label sets a probe or scrape just appended. A group "reads" a label set
when one of its rules' vector selectors matches it. An expression that does
not parse reads nothing here (its rule reports the error when evaluated on
the grid).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, Sequence

from watchdog.model import METRIC_NAME, Labels
from watchdog.promql.ast import Expr, VectorSelector

SOURCE_CACHE_LIMIT = 100_000   # sources remembered; past that the cache starts over (it is only a shortcut)


def vector_selectors(node: Any) -> Iterator[VectorSelector]:
    """Every vector selector in a compiled expression (matrix selectors and subqueries included)."""
    if isinstance(node, VectorSelector):
        yield node
        return
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from vector_selectors(item)
        return
    if isinstance(node, Expr) and dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            child = getattr(node, f.name)
            if isinstance(child, (Expr, list, tuple)):
                yield from vector_selectors(child)


def selector_reads(selector: VectorSelector, labels: Labels) -> bool:
    """The selector (any of its OR-ed matcher groups) matches the label set."""
    return any(all(m.matches(labels.get(m.name)) for m in group) for group in selector.matcher_groups)


class ReaderIndex:
    """Group key -> the selectors of its rules, indexed by metric name; answers per appended batch.

    The answer for a source is cached with the batch's label sets: a probe writes
    the same label sets every time, so the usual question costs one tuple compare.
    """

    def __init__(self, groups: Sequence[tuple[str, Sequence[str]]], parse: Callable[[str], Any]) -> None:
        self._by_name: dict[str, list[tuple[str, VectorSelector]]] = {}
        self._nameless: list[tuple[str, VectorSelector]] = []
        for key, exprs in groups:
            for expr in exprs:
                try:
                    node = parse(expr)
                except Exception:  # a bad expression is its rule's error, reported on evaluation
                    continue
                for sel in vector_selectors(node):
                    if sel.name:
                        self._by_name.setdefault(sel.name, []).append((key, sel))
                    else:
                        self._nameless.append((key, sel))
        self._cache: dict[str, tuple[tuple[Labels, ...], frozenset[str]]] = {}

    @property
    def empty(self) -> bool:
        return not self._by_name and not self._nameless

    def groups_reading(self, source: str, label_sets: Sequence[Labels]) -> frozenset[str]:
        """Keys of the groups that read any of `label_sets` (what `source` just appended)."""
        if self.empty:
            return frozenset()
        batch = tuple(label_sets)
        hit = self._cache.get(source)
        if hit is not None and hit[0] == batch:
            return hit[1]
        keys: set[str] = set()
        for labels in batch:
            for key, sel in (*self._by_name.get(labels.get(METRIC_NAME), ()), *self._nameless):
                if key not in keys and selector_reads(sel, labels):
                    keys.add(key)
        result = frozenset(keys)
        if len(self._cache) >= SOURCE_CACHE_LIMIT:
            self._cache.clear()
        self._cache[source] = (batch, result)
        return result
