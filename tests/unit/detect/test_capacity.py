"""The shipped capacity forecast (detectors/disk.yml) and its page (rules/detectors.rules.yml,
DiskWillFillIn4Hours) on a filesystem filling at a steady rate: the real runner, series store
and PromQL engine on a FakeClock."""

from __future__ import annotations

import random

import yaml

from watchdog.detect.runner import DetectorRunner
from watchdog.detect.spec import load_detector_files
from watchdog.model import Labels
from watchdog.promql import Engine
from watchdog.tsdb import SeriesStore

GB = 1e9


def shipped_rule_expr(root_dir, alert: str) -> str:
    doc = yaml.safe_load((root_dir / "rules" / "detectors.rules.yml").read_text())
    return next(r["expr"] for g in doc["groups"] for r in g["rules"] if r.get("alert") == alert)


async def test_disk_filling_pages_about_4h_before_full_and_a_flat_disk_never(root_dir, fake_clock):
    specs, errors = load_detector_files([str(root_dir / "detectors" / "disk.yml")])
    assert errors == [] and specs[0].name == "disk-free-trend"
    series = SeriesStore()
    engine = Engine(series)
    runner = DetectorRunner(specs, engine=engine, series=series, clock=fake_clock)
    expr = shipped_rule_expr(root_dir, "DiskWillFillIn4Hours")
    rng = random.Random(3)
    filling = Labels.of(__name__="node_filesystem_avail_bytes", instance="db1:9100", mountpoint="/var", fstype="ext4")
    flat = Labels.of(__name__="node_filesystem_avail_bytes", instance="db1:9100", mountpoint="/", fstype="ext4")
    tmp = Labels.of(__name__="node_filesystem_avail_bytes", instance="db1:9100", mountpoint="/run", fstype="tmpfs")
    rate = 2 * GB / 3600                       # 2 GB an hour; 20 GB free: full 10 h after the start
    start = fake_clock.now()
    first_page = None
    for _ in range(10 * 60):
        t = fake_clock.now()
        noise = rng.gauss(0, 0.02 * GB)        # other writers come and go
        series.append(filling, max(20 * GB - rate * (t - start) + noise, 0.0), t)
        series.append(flat, 1 * GB + noise, t)  # nearly full but not filling
        series.append(tmp, 5 * GB, t)
        await runner.step(t)
        if first_page is None and engine.vector(expr, t):
            first_page = t
            paged = {s.labels.get("mountpoint") for s in engine.vector(expr, t)}
        fake_clock.advance(60.0)
    assert first_page is not None
    full_at = start + 10 * 3600
    assert 3.5 * 3600 <= full_at - first_page <= 4 * 3600 + 120     # pages about 4 h ahead
    assert paged == {"/var"}
    ttt = engine.vector('time_to_threshold_seconds{detector="disk-free-trend", mountpoint="/"}', fake_clock.now() - 60)
    assert ttt and ttt[0].value > 24 * 3600                         # flat: never (or days away)
    assert not engine.vector('forecast_value{mountpoint="/run"}', fake_clock.now() - 60)   # tmpfs excluded
    fv = engine.vector('forecast_value{detector="disk-free-trend", mountpoint="/var", horizon="4h"}', start + 3600)
    assert fv and abs(fv[0].value - (20 * GB - rate * 5 * 3600)) < 1 * GB
