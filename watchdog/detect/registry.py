"""Algorithm registry keyed by the spec's `algorithm`: one module per algorithm.

Each module defines `Params` (a pydantic model, extra="forbid") and
`create(params: Params) -> Detector`. Modules are imported on first use, so a
heavy dependency (scikit-learn for isolation_forest) loads only when a
detector that needs it is configured. Adding an algorithm is one module plus
one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from watchdog.detect.base import Detector

ALGORITHMS: dict[str, str] = {
    "robust_z": "watchdog.detect.robust_z",
    "ewma": "watchdog.detect.ewma",
    "seasonal": "watchdog.detect.seasonal",
    "changepoint": "watchdog.detect.changepoint",
    "isolation_forest": "watchdog.detect.isoforest",
    "forecast": "watchdog.detect.forecast",
    "ensemble": "watchdog.detect.ensemble",
    "knn": "watchdog.detect.knn",
    "novelty": "watchdog.detect.novelty",
}


def algorithm_module(name: str) -> ModuleType:
    """The module implementing `name`; KeyError for an unknown algorithm."""
    return importlib.import_module(ALGORITHMS[name])


def params_model(name: str) -> type[BaseModel]:
    return algorithm_module(name).Params


def _validated(mod: ModuleType, params: BaseModel | dict[str, Any] | None) -> BaseModel:
    return params if isinstance(params, BaseModel) else mod.Params.model_validate(params or {})


def create_batch(name: str, params: BaseModel | dict[str, Any] | None = None, capacity: int = 64) -> Any | None:
    """A model of many series updated in one vectorised call, when the algorithm has one (else None).

    A batch model has `update(slots, x) -> scores`, `warm(slots)`, `grow(capacity)`, `reset(slot)`,
    `state(slot)`, `load_state(slot, state)` and `capacity`."""
    mod = algorithm_module(name)
    factory = getattr(mod, "create_batch", None)
    return factory(_validated(mod, params), capacity) if factory is not None else None


def create(name: str, params: BaseModel | dict[str, Any] | None = None) -> Detector:
    """A fresh detector of algorithm `name`; `params` as a validated model or a plain dict."""
    mod = algorithm_module(name)
    return mod.create(_validated(mod, params))
