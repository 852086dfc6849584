"""The series store holds `storage.series_retention` at the shortest configured interval."""

from watchdog.app import _samples_per_series
from watchdog.config.loader import load_config


def _load(tmp_path, storage: str, interval: str):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"storage: {{{storage}}}\n"
        "global: {evaluation_interval: 10s}\n"
        f"targets: [{{name: t, type: tcp, address: '127.0.0.1:1', interval: {interval}}}]\n"
    )
    return load_config(str(cfg))


def test_derived_from_retention_and_shortest_interval(tmp_path):
    assert _samples_per_series(_load(tmp_path, "series_retention: 6h", "2s")) == 10_801
    assert _samples_per_series(_load(tmp_path, "series_retention: 1h", "30s")) == 1_024   # floor
    assert _samples_per_series(_load(tmp_path, "series_retention: 24h", "1s")) == 43_200  # cap


def test_explicit_cap_wins(tmp_path):
    assert _samples_per_series(_load(tmp_path, "max_samples_per_series: 5000", "1s")) == 5_000
