"""Rendering one templated field of an action for one alert (shared by every runner).

A template is rendered on its own, so a label value can only ever become
(part of) that one field. A template that names a label the alert lacks, or
`$change` when no change was matched, is refused instead of rendering empty
(Prometheus renders missing keys as "", and `--target=` may mean "all").
"""

from __future__ import annotations

import re
from typing import Callable

from watchdog.remediate.base import ActionContext, ActionRefused

LABEL_REF = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")
CHANGE_REF = re.compile(r"\$change\.([A-Za-z_][A-Za-z0-9_]*)")


def render_field(text: str, ctx: ActionContext, where: str, *, quote: Callable[[str], str] | None = None) -> str:
    """Render `text` for the alert in `ctx`; raises ActionRefused. `quote` is applied to every label/change value first."""
    from watchdog.promql.template import TemplateError, render

    if "{{" not in text:
        return text
    missing = sorted({name for name in LABEL_REF.findall(text) if not ctx.labels.get(name)})
    if missing:
        raise ActionRefused(f"{where}: template refers to label(s) the alert does not have: {', '.join(missing)}")
    change = dict(ctx.change or {})
    if "$change" in text:
        if ctx.change is None:
            raise ActionRefused(f"{where}: template refers to $change but no change was matched (requires_change)")
        absent = sorted({name for name in CHANGE_REF.findall(text) if not change.get(name)})
        if absent:
            raise ActionRefused(f"{where}: the matched change has no {', '.join(absent)}")
    labels = dict(ctx.labels)
    if quote is not None:
        labels = {k: quote(v) for k, v in labels.items()}
        change = {k: quote(str(v)) for k, v in change.items()}
    try:
        return render(
            text,
            labels=labels,
            value=ctx.value,
            external_labels=dict(ctx.external_labels),
            extra={"annotations": dict(ctx.annotations), "change": change},
        )
    except TemplateError as e:
        raise ActionRefused(f"{where}: template failed: {e}") from None
