"""Detector specs (`detectors/*.yml`) and their loader with located errors.

Shape (CONTRACT.md):
    detectors:
      - name: api-latency
        input: probe_duration_seconds{target="api"}
        algorithm: ensemble
        params: {}
        warmup: 1h
        labels: {team: web}
Extra keys we add: `interval` (evaluation step, default 10s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import promql_parser
from pydantic import BaseModel, ConfigDict, Field, field_validator

from watchdog.config.errors import ConfigError
from watchdog.config.yamlpos import LocatedDoc, load_yaml_file, validate
from watchdog.detect import registry
from watchdog.durations import Duration

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_LABELS = frozenset({"__name__", "detector", "horizon", "threshold"})


class DetectorSpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    input: str
    algorithm: str = "ensemble"           # without algorithm and params: the default detector (NAB-tuned)
    params: dict[str, Any] = Field(default_factory=dict)
    warmup: Duration = 0.0
    labels: dict[str, str] = Field(default_factory=dict)
    interval: Duration = 10.0

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("name must start with a letter or digit and use only letters, digits, _ . : -")
        return v

    @field_validator("algorithm")
    @classmethod
    def _algorithm(cls, v: str) -> str:
        if v not in registry.ALGORITHMS:
            raise ValueError(f"unknown algorithm {v!r} (one of: {', '.join(registry.ALGORITHMS)})")
        return v

    @field_validator("input")
    @classmethod
    def _input(cls, v: str) -> str:
        try:
            promql_parser.parse(v)
        except BaseException as e:  # the Rust parser may raise odd exception types
            if isinstance(e, (KeyboardInterrupt, SystemExit, MemoryError)):
                raise
            raise ValueError(f"invalid PromQL: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not _LABEL_RE.match(k):
                raise ValueError(f"invalid label name {k!r}")
            if k in RESERVED_LABELS:
                raise ValueError(f"label {k!r} is set by the detector runner")
        return v

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("interval must be positive")
        return v


class DetectorFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    detectors: list[Any] = Field(default_factory=list)


@dataclass(frozen=True)
class DetectorSpec:
    """A validated detector: what the runner and the backtester build models from."""

    name: str
    input: str
    algorithm: str
    params: BaseModel                    # the algorithm's validated Params
    warmup: float = 0.0                  # seconds of a series' own data before it may score
    labels: Mapping[str, str] = field(default_factory=dict)
    interval: float = 10.0
    path: str = ""                       # file it came from

    def new_detector(self):
        return registry.create(self.algorithm, self.params)

    def new_batch(self, capacity: int = 64):
        """A model vectorised across series, or None when the algorithm has none."""
        return registry.create_batch(self.algorithm, self.params, capacity)

    def identity(self) -> tuple[str, str, str, str]:
        """What must stay equal for a persisted model to be reused after a reload."""
        return (self.name, self.input, self.algorithm, self.params.model_dump_json())


def specs_from_doc(doc: LocatedDoc) -> tuple[list[DetectorSpec], list[ConfigError]]:
    errors: list[ConfigError] = list(doc.errors)
    if doc.data is None:
        return [], errors
    if not isinstance(doc.data, dict):
        return [], errors + [doc.error((), "a detector file is a mapping with a `detectors:` list")]
    top, errs = validate(DetectorFileModel, doc.data, doc)
    errors += errs
    if top is None:
        return [], errors
    specs: list[DetectorSpec] = []
    for i, item in enumerate(top.detectors):
        prefix = ("detectors", i)
        model, errs = validate(DetectorSpecModel, item, doc, prefix=prefix)
        errors += errs
        if model is None:
            continue
        params, errs = validate(registry.params_model(model.algorithm), model.params, doc, prefix=prefix + ("params",))
        errors += errs
        if params is None:
            continue
        specs.append(
            DetectorSpec(model.name, model.input, model.algorithm, params, model.warmup, dict(model.labels), model.interval, doc.path)
        )
    return specs, errors


def load_detector_files(paths: Iterable[str]) -> tuple[list[DetectorSpec], list[ConfigError]]:
    """Load every file; returns all valid specs and every error (names must be unique across files)."""
    specs: list[DetectorSpec] = []
    errors: list[ConfigError] = []
    seen: dict[str, str] = {}
    for path in paths:
        doc = load_yaml_file(path)
        found, errs = specs_from_doc(doc)
        errors += errs
        names = [d.get("name") if isinstance(d, dict) else None for d in (doc.data or {}).get("detectors", []) or []] if isinstance(doc.data, dict) else []
        for spec in found:
            if spec.name in seen:
                idx = names.index(spec.name) if spec.name in names else 0
                errors.append(doc.error(("detectors", idx, "name"), f"duplicate detector name {spec.name!r} (also in {seen[spec.name]})"))
                continue
            seen[spec.name] = path
            specs.append(spec)
    return specs, errors
