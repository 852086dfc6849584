"""Ensemble: several detectors on the same series, each calibrated, combined into one score.

Each member's raw deviation (`raw_update` when it has one, else its score) is
turned into an anomaly likelihood (`calibrate.Likelihood`), so members with
very different scales speak the same language; the combination is the
largest weighted likelihood (or their weighted mean), then squashed so that
only strong evidence scores near 1, and one alarm per event is kept by a
refractory period. Level shifts, spikes, slow drifts and new rhythms are
different anomalies; each member covers some of them.

Without `members` (params `{}`, the default a user gets) the ensemble is the
NAB-tuned pair of `novelty` (pattern novelty + range break, calibrated, one
alarm per event, vectorised across series): see watchdog/detect/novelty.py.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from watchdog.detect import novelty, registry
from watchdog.detect.calibrate import Likelihood, Refractory


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")
    algorithm: str
    params: dict[str, Any] = Field(default_factory=dict)
    weight: float = Field(1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> "Member":
        if self.algorithm not in registry.ALGORITHMS or self.algorithm == "ensemble":
            raise ValueError(f"unknown member algorithm {self.algorithm!r}")
        registry.params_model(self.algorithm).model_validate(self.params)
        return self


class Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    short: int = Field(5, ge=1, le=1000, description="newest raw scores averaged")
    long: int = Field(2000, ge=10, description="horizon (points) of the long-run mean/variance of the short mean")
    level: float = Field(5.0, gt=0, description="deviations of the short mean above its usual value that score 0.9")
    min_points: int = Field(100, ge=1, description="raw scores a member's calibration learns before it scores")


class RefractoryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: float = Field(0.99, gt=0, le=1)
    points: int = Field(0, ge=0)
    damping: float = Field(0.5, ge=0, le=1)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    members: list[Member] = Field(default_factory=list, description="empty: the built-in novelty pair (NAB-tuned)")
    combine: Literal["max", "mean"] = "max"
    calibration: Calibration = Field(default_factory=Calibration)
    refractory: RefractoryParams = Field(default_factory=RefractoryParams)
    sharpness: float = Field(1.0, gt=0, description="score = likelihood ** sharpness-scaled log form; >1 pushes scores down")
    min_points: int = Field(0, ge=0)


class Ensemble:
    def __init__(self, p: Params) -> None:
        self.p = p
        self.members = [registry.create(m.algorithm, m.params) for m in p.members]
        self.raws = [getattr(d, "raw_update", None) or d.update for d in self.members]
        self.weights = [m.weight for m in p.members]
        c = p.calibration
        self.calib = [Likelihood(c.short, c.long, level=c.level, min_points=c.min_points) for _ in p.members]
        self.refractory = Refractory(p.refractory.level, p.refractory.points, p.refractory.damping)
        self.n = 0
        self.last_members: list[float] = [0.0] * len(self.members)

    @property
    def warm(self) -> bool:
        return self.n >= self.p.min_points and all(d.warm for d in self.members)

    def update(self, t: float, x: float) -> float:
        self.n += 1
        best = 0.0
        total = 0.0
        for i, raw in enumerate(self.raws):
            r = raw(t, x)
            lik = self.calib[i].update(r) if self.members[i].warm else 0.0
            self.last_members[i] = lik
            v = lik * self.weights[i]
            total += v
            if v > best:
                best = v
        combined = best if self.p.combine == "max" else total / sum(self.weights)
        if self.n < self.p.min_points:
            return 0.0
        if self.p.sharpness != 1.0:
            # 1 - (1 - c) ** (1 / sharpness): keeps 0 and 1, moves the mass of the scale
            combined = 1.0 - (1.0 - combined) ** (1.0 / self.p.sharpness)
        return self.refractory.apply(combined)

    def state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "members": [d.state() for d in self.members],
            "calib": [c.state() for c in self.calib],
            "refractory": self.refractory.state(),
        }

    def load_state(self, s: dict[str, Any]) -> None:
        if len(s["members"]) != len(self.members):
            raise ValueError("ensemble members changed")
        for d, ms in zip(self.members, s["members"]):
            d.load_state(ms)
        for c, cs in zip(self.calib, s["calib"]):
            c.load_state(cs)
        self.refractory.load_state(s["refractory"])
        self.n = int(s["n"])


def create(p: Params) -> Ensemble | novelty.Novelty:
    if not p.members:
        return novelty.create(novelty.Params())
    return Ensemble(p)


def create_batch(p: Params, capacity: int = 64) -> novelty.NoveltyBatch | None:
    """Vectorised across series for the default (member-less) ensemble only."""
    return novelty.create_batch(novelty.Params(), capacity) if not p.members else None


__all__ = ["Params", "Ensemble", "create", "create_batch"]
