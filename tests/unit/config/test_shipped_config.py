"""The embedded default (config.yaml and the files it globs) is valid and watches the demo as the contract says."""

from __future__ import annotations

from pathlib import Path

from watchdog import cli
from watchdog.config.loader import load_config
from watchdog.demo import SLOW_SECONDS

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_config_loads_with_the_contract_names():
    loaded = load_config(str(ROOT / "config.yaml"))
    demo = next(t for t in loaded.targets if t.name == "demo")
    assert demo.type == "http" and demo.url == "http://127.0.0.1:9798/health"
    # `break?mode=slow` must read as slow, not as a timeout (which would be DemoServiceDown)
    assert SLOW_SECONDS < demo.timeout <= demo.interval
    rules = {r.name for g in loaded.rule_groups for r in g.rules}
    assert {"DemoServiceDown", "DemoServiceSlow"} <= rules
    specs = {s.name for s in loaded.remediation_specs}
    assert {"restart-demo", "restart-demo-slow"} <= specs
    assert str(loaded.config.storage.path).endswith("data/watchdog.db")
    assert loaded.config.api.listen == "127.0.0.1:9797"


def test_watchdog_check_accepts_the_shipped_config(capsys):
    assert cli.main(["check", "-c", str(ROOT / "config.yaml")]) == 0
    assert capsys.readouterr().out.startswith("SUCCESS")
