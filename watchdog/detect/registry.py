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
}


def algorithm_module(name: str) -> ModuleType:
    """The module implementing `name`; KeyError for an unknown algorithm."""
    return importlib.import_module(ALGORITHMS[name])


def params_model(name: str) -> type[BaseModel]:
    return algorithm_module(name).Params


def create(name: str, params: BaseModel | dict[str, Any] | None = None) -> Detector:
    """A fresh detector of algorithm `name`; `params` as a validated model or a plain dict."""
    mod = algorithm_module(name)
    if not isinstance(params, BaseModel):
        params = mod.Params.model_validate(params or {})
    return mod.create(params)
