"""The route tree with Alertmanager's matching semantics, as pure functions.

Matching (Alertmanager's dispatch.Route.Match, the order amtool prints):
a route matches when all its matchers match; its children are tried in
config order, every matching child contributes its own matches, and a child
without `continue` stops its later siblings. A route's own receiver is used
only when none of its children matched.

Inherited settings (receiver, group_by, the three intervals) were already
copied down by the config loader, so a node carries everything it needs.
Time intervals are not inherited (as in Alertmanager) and never change
routing, only delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from watchdog.alerting.grouping import DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL, GroupTiming, RouteTarget
from watchdog.alerting.matchers import Matcher, matches_all
from watchdog.model import Labels


@dataclass(frozen=True, slots=True)
class RouteNode:
    """One route of the tree, with its inherited settings resolved."""

    key: str                               # Alertmanager's route key: `{}/{severity="critical"}`
    matchers: tuple[Matcher, ...]
    receiver: str
    group_by: tuple[str, ...]
    timing: GroupTiming
    continue_: bool
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]
    children: tuple["RouteNode", ...]

    def target(self) -> RouteTarget:
        return RouteTarget(route_key=self.key, receiver=self.receiver, group_by=self.group_by, timing=self.timing)


def _matchers_string(matchers: Sequence[Matcher]) -> str:
    return "{" + ",".join(str(m) for m in sorted(matchers, key=lambda m: (m.name, m.op.value, m.value))) + "}"


def _seconds(value: Any, default: float) -> float:
    return default if value is None else float(value)


def build_tree(route: Any, parent_key: str | None = None, sibling_keys: set[str] | None = None) -> RouteNode:
    """A RouteNode tree from a config `Route` (watchdog.alerting.config.Route)."""
    matchers = tuple(route.all_matchers())
    key = _matchers_string(matchers) if parent_key is None else f"{parent_key}/{_matchers_string(matchers)}"
    if sibling_keys is not None:
        # Two siblings with the same matchers would share groups in Alertmanager; keep them apart.
        base, n = key, 1
        while key in sibling_keys:
            n += 1
            key = f"{base}#{n}"
        sibling_keys.add(key)
    seen: set[str] = set()
    children = tuple(build_tree(child, key, seen) for child in route.routes)
    return RouteNode(
        key=key,
        matchers=matchers,
        receiver=route.receiver or "",
        group_by=tuple(route.group_by or ()),
        timing=GroupTiming(
            group_wait=_seconds(route.group_wait, DEFAULT_GROUP_WAIT),
            group_interval=_seconds(route.group_interval, DEFAULT_GROUP_INTERVAL),
            repeat_interval=_seconds(route.repeat_interval, DEFAULT_REPEAT_INTERVAL),
        ),
        continue_=bool(route.continue_),
        mute_time_intervals=tuple(route.mute_time_intervals),
        active_time_intervals=tuple(route.active_time_intervals),
        children=children,
    )


def match_routes(node: RouteNode, labels: Labels) -> list[RouteNode]:
    """Every route an alert with `labels` is delivered through, in tree order (duplicates kept)."""
    if not matches_all(node.matchers, labels):
        return []
    found: list[RouteNode] = []
    for child in node.children:
        matched = match_routes(child, labels)
        found.extend(matched)
        if matched and not child.continue_:
            break
    return found or [node]


class RouteTree:
    """The compiled route tree; `router(labels)` is what the dispatcher asks."""

    def __init__(self, root_route: Any) -> None:
        self.root = build_tree(root_route)
        self._by_key = {n.key: n for n in self.nodes()}

    def nodes(self) -> list[RouteNode]:
        out: list[RouteNode] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out

    def node(self, key: str) -> RouteNode | None:
        return self._by_key.get(key)

    def match(self, labels: Labels) -> list[RouteNode]:
        return match_routes(self.root, labels)

    def receivers(self, labels: Labels) -> list[str]:
        """Receivers in tree order, duplicates kept (amtool's answer)."""
        return [n.receiver for n in self.match(labels)]

    def router(self, labels: Labels) -> list[RouteTarget]:
        return [n.target() for n in self.match(labels)]
