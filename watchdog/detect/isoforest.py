"""scikit-learn IsolationForest on windowed features (value, window mean, window deviation, step).

scikit-learn is imported only when a model is fitted, i.e. only when this
algorithm is configured. Fits are CPU-bound: in the daemon the runner calls
`fit_snapshot()` on the event loop, `fit_model()` in a worker thread
(APScheduler refit job), and `install()` back on the loop; `inline_refit`
(used by backtests, where there is no event loop to protect) fits in place.
The model itself is not persisted: the training window is, and a restart
refits from it. Deterministic: `random_state` is fixed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from watchdog.detect.base import clamp01


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(12, ge=2, le=256)
    train_size: int = Field(512, ge=32, le=2048, description="feature rows kept for fitting")
    min_train: int = Field(128, ge=16)
    refit_points: int = Field(500, ge=10, description="new samples between refits")
    n_estimators: int = Field(50, ge=10, le=500)
    seed: int = 7


def fit_model(features: np.ndarray, p: Params) -> Any:
    """Fit an IsolationForest (CPU-bound; call off the event loop)."""
    from sklearn.ensemble import IsolationForest  # heavy import, only for this algorithm

    model = IsolationForest(n_estimators=p.n_estimators, random_state=p.seed, max_samples=min(256, len(features)))
    model.fit(features)
    return model


class IsolationForestDetector:
    def __init__(self, p: Params) -> None:
        self.p = p
        self.recent: list[float] = []
        self.train = np.zeros((p.train_size, 4))
        self.stored = 0
        self.since_fit = 0
        self.model: Any = None
        self.offset = 0.0
        self.inline_refit = True
        self.last_refit_n = 0

    @property
    def warm(self) -> bool:
        return self.model is not None

    def _features(self) -> np.ndarray:
        w = np.asarray(self.recent)
        return np.array([w[-1], w.mean(), w.std(), w[-1] - w[-2]])

    def needs_refit(self) -> bool:
        n = min(self.stored, self.p.train_size)
        return n >= self.p.min_train and (self.model is None or self.since_fit >= self.p.refit_points)

    def fit_snapshot(self) -> np.ndarray:
        return self.train[: min(self.stored, self.p.train_size)].copy()

    def install(self, model: Any) -> None:
        self.model = model
        self.since_fit = 0
        self.last_refit_n = self.stored

    def update(self, t: float, x: float) -> float:
        self.recent.append(x)
        if len(self.recent) > self.p.window:
            self.recent.pop(0)
        if len(self.recent) < self.p.window:
            return 0.0
        f = self._features()
        score = 0.0
        if self.model is not None:
            # score_samples is the negated anomaly score of the paper, in about [-1, -0.3]:
            # 0.5 is an ordinary point, values toward 1 are isolated quickly
            s = -float(self.model.score_samples(f.reshape(1, -1))[0])
            score = clamp01((s - 0.5) / 0.25)
        self.train[self.stored % self.p.train_size] = f
        self.stored += 1
        self.since_fit += 1
        if self.inline_refit and self.needs_refit():
            self.install(fit_model(self.fit_snapshot(), self.p))
        return score

    def state(self) -> dict[str, Any]:
        return {"recent": self.recent, "train": self.fit_snapshot().round(6).tolist(), "stored": self.stored}

    def load_state(self, s: dict[str, Any]) -> None:
        self.recent = [float(v) for v in s["recent"]][-self.p.window :]
        rows = np.asarray(s["train"], dtype=float).reshape(-1, 4)[-self.p.train_size :]
        self.train = np.zeros((self.p.train_size, 4))
        self.train[: len(rows)] = rows
        self.stored = len(rows)
        self.model = None
        self.since_fit = self.p.refit_points  # refit from the restored window at the next chance


def create(p: Params) -> IsolationForestDetector:
    return IsolationForestDetector(p)


__all__ = ["Params", "IsolationForestDetector", "create", "fit_model"]
