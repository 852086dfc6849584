"""The in-memory series store: label postings index + one ring buffer per series."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from watchdog.model import STALE_NAN, Labels
from watchdog.tsdb import metrics
from watchdog.tsdb.matchers import Matcher, MatchOp
from watchdog.tsdb.series import SeriesBuffer


class _Series:
    __slots__ = ("id", "labels", "label_map", "buf")

    def __init__(self, sid: int, labels: Labels, max_samples: int) -> None:
        self.id = sid
        self.labels = labels
        self.label_map = dict(labels)
        self.buf = SeriesBuffer(max_samples)


class SeriesStore:
    """Holds recent samples of every series, bounded in time, per series and in series count.

    Single event loop, so no locking. Appends are O(1) amortised; selects use
    the postings index for matchers that cannot match the empty string.
    """

    def __init__(
        self,
        retention: float = 6 * 3600.0,
        max_samples_per_series: int = 4096,
        max_series: int = 1_000_000,
    ) -> None:
        self.retention = float(retention)
        self.max_samples_per_series = int(max_samples_per_series)
        self.max_series = int(max_series)
        self._by_labels: dict[Labels, _Series] = {}
        self._by_id: dict[int, _Series] = {}
        # postings: label name -> label value -> series ids
        self._postings: dict[str, dict[str, set[int]]] = {}
        self._next_id = 0
        self._source_series: dict[str, set[int]] = {}
        self.out_of_order_dropped = 0
        self.series_refused = 0

    # -- writing -----------------------------------------------------------

    def _series_for(self, labels: Labels) -> _Series | None:
        s = self._by_labels.get(labels)
        if s is not None:
            return s
        if len(self._by_labels) >= self.max_series:
            self.series_refused += 1
            metrics.SERIES_REFUSED.inc()
            return None
        if not isinstance(labels, Labels):
            labels = Labels(labels)
            existing = self._by_labels.get(labels)
            if existing is not None:
                return existing
        sid = self._next_id
        self._next_id += 1
        s = _Series(sid, labels, self.max_samples_per_series)
        self._by_labels[labels] = s
        self._by_id[sid] = s
        for name, value in labels:
            self._postings.setdefault(name, {}).setdefault(value, set()).add(sid)
        metrics.SERIES.set(len(self._by_labels))
        return s

    def _append(self, labels: Labels, value: float, t: float) -> _Series | None:
        s = self._series_for(labels)
        if s is None:
            return None
        if not s.buf.append(t, value):
            self.out_of_order_dropped += 1
            metrics.OUT_OF_ORDER.inc()
        return s

    def append(self, labels: Labels, value: float, t: float) -> None:
        """Append one sample; `labels` include `__name__`."""
        if self._append(labels, float(value), float(t)) is not None:
            metrics.SAMPLES_APPENDED.inc()

    def append_batch(self, source: str, samples: Iterable[tuple[Labels, float]], t: float) -> None:
        """All samples of one probe/scrape of `source` at `t`.

        Series `source` wrote last time but not now get a staleness marker at `t`,
        as Prometheus does for a series that disappears from a scrape.
        """
        t = float(t)
        seen: set[int] = set()
        n = 0
        for labels, value in samples:
            s = self._append(labels, float(value), t)
            if s is not None:
                seen.add(s.id)
                n += 1
        previous = self._source_series.get(source)
        if previous:
            for sid in previous - seen:
                s = self._by_id.get(sid)
                if s is not None:
                    s.buf.append(t, STALE_NAN)
        self._source_series[source] = seen
        if n:
            metrics.SAMPLES_APPENDED.inc(n)

    def drop_source(self, source: str, t: float) -> None:
        """The source is gone (target removed or reloaded away): stale-mark all its series."""
        for sid in self._source_series.pop(source, set()):
            s = self._by_id.get(sid)
            if s is not None:
                s.buf.append(float(t), STALE_NAN)

    # -- reading -----------------------------------------------------------

    def _candidates(self, matchers: Sequence[Matcher]) -> Iterable[_Series]:
        narrowing: list[set[int]] = []
        filters: list[Matcher] = []
        for m in matchers:
            if m.matches_empty:
                filters.append(m)
                continue
            values = self._postings.get(m.name)
            if not values:
                return []
            if m.op is MatchOp.EQ:
                ids = values.get(m.value)
                if not ids:
                    return []
                narrowing.append(ids)
            else:
                ids_union: set[int] = set()
                for value, ids in values.items():
                    if m.matches(value):
                        ids_union |= ids
                if not ids_union:
                    return []
                narrowing.append(ids_union)
        if narrowing:
            narrowing.sort(key=len)
            ids = set(narrowing[0])
            for other in narrowing[1:]:
                ids &= other
                if not ids:
                    return []
            series: Iterable[_Series] = [self._by_id[i] for i in sorted(ids)]
        else:
            series = list(self._by_id.values())
        if filters:
            series = [s for s in series if all(f.matches(s.label_map.get(f.name, "")) for f in filters)]
        return series

    def select(
        self, matchers: Sequence[Matcher], start: float, end: float
    ) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
        """(labels, timestamps, values) of matching series with start < t <= end; may include STALE_NAN.

        Series without samples in the window are left out.
        """
        out = []
        for s in self._candidates(matchers):
            ts, vals = s.buf.window(start, end)
            if ts.shape[0]:
                out.append((s.labels, ts, vals))
        return out

    def select_flagged(
        self, matchers: Sequence[Matcher], start: float, end: float
    ) -> list[tuple[Labels, np.ndarray, np.ndarray, bool]]:
        """As select(), plus whether each window may hold a NaN/staleness marker (False: it surely does not)."""
        out = []
        for s in self._candidates(matchers):
            buf = s.buf
            ts, vals = buf.window(start, end)
            if ts.shape[0]:
                out.append((s.labels, ts, vals, buf.may_hold_stale))
        return out

    def latest(self, matchers: Sequence[Matcher], start: float, end: float) -> list[tuple[Labels, float, float]]:
        """(labels, t, value) of the newest sample with start < t <= end of each matching series.

        What an instant vector selector needs, without copying whole windows.
        """
        out = []
        for s in self._candidates(matchers):
            hit = s.buf.latest(start, end)
            if hit is not None:
                out.append((s.labels, hit[0], hit[1]))
        return out

    def select_labels(self, matchers: Sequence[Matcher]) -> list[Labels]:
        """Label sets of the matching series, whatever their samples."""
        return [s.labels for s in self._candidates(matchers)]

    def series_count(self) -> int:
        return len(self._by_labels)

    def sample_count(self) -> int:
        return sum(s.buf.count for s in self._by_id.values())

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        if not matchers:
            return sorted(self._postings)
        names: set[str] = set()
        for s in self._candidates(matchers):
            names.update(s.label_map)
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        if not matchers:
            return sorted(self._postings.get(name, {}))
        values = {s.label_map[name] for s in self._candidates(matchers) if name in s.label_map}
        return sorted(values)

    # -- housekeeping ------------------------------------------------------

    def prune(self, now: float) -> int:
        """Drop samples older than now - retention and series left empty; returns samples dropped."""
        cutoff = float(now) - self.retention
        dropped = 0
        empty: list[_Series] = []
        for s in self._by_id.values():
            if s.buf.count and s.buf.ts is not None:
                dropped += s.buf.drop_before(cutoff)
            if s.buf.count == 0:
                empty.append(s)
        for s in empty:
            self._remove(s)
        if dropped:
            metrics.SAMPLES_PRUNED.inc(dropped)
        metrics.SERIES.set(len(self._by_labels))
        return dropped

    def clear(self) -> None:
        """Forget everything (tests and `clear` in promqltest scripts)."""
        for s in list(self._by_id.values()):
            self._remove(s)
        self._source_series.clear()
        metrics.SERIES.set(0)

    def _remove(self, s: _Series) -> None:
        del self._by_labels[s.labels]
        del self._by_id[s.id]
        for name, value in s.labels:
            values = self._postings.get(name)
            if values is None:
                continue
            ids = values.get(value)
            if ids is not None:
                ids.discard(s.id)
                if not ids:
                    del values[value]
            if not values:
                del self._postings[name]
        for ids in self._source_series.values():
            ids.discard(s.id)
