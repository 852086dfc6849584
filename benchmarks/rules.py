"""Rule evaluation benchmark: the awesome-prometheus-alerts rules of the exporters present, over ~10,000 series.

    .venv/bin/python benchmarks/rules.py                  # ours and, when installed, Prometheus's
    .venv/bin/python benchmarks/rules.py --no-prometheus  # ours only

Series are synthesized for every selector of the chosen rule groups
(watchdog.rules.synthetic) and replicated over instances up to --series. We
load --samples samples per series at --step spacing, evaluate every group
--repeat times through the RuleManager (real clock) and report the median
time per group and per rule, and the series each rule's query touched.

For comparison the same series are served as one exposition on loopback,
the Debian `prometheus` (2.42) scrapes it every --step seconds with
honor_labels and evaluates the same rule file; once it holds as many
samples per series as we loaded, we read `prometheus_rule_group_last_duration_seconds`
from its /metrics (several evaluations, median) and each rule's
`evaluationTime` from its /api/v1/rules.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watchdog.clock import SystemClock  # noqa: E402
from watchdog.promql import Engine  # noqa: E402
from watchdog.rules.loader import load_rule_files  # noqa: E402
from watchdog.rules.manager import RuleManager  # noqa: E402
from watchdog.rules.synthetic import build  # noqa: E402
from watchdog.rules.unittest import _DiscardStore  # noqa: E402
from watchdog.testing.env import SHARED  # noqa: E402
from watchdog.tsdb import SeriesStore  # noqa: E402

EXPORTERS = [
    "Prometheus self-monitoring", "Host and hardware", "Docker containers", "Blackbox", "MySQL", "PostgreSQL",
    "Redis", "Nginx", "JVM", "Golang",
]


def select_groups(corpus: Path, out: Path) -> Path:
    doc = yaml.safe_load(corpus.read_text())
    keep = [g for g in doc["groups"] if any(g["name"].startswith(e) for e in EXPORTERS)]
    out.write_text(yaml.safe_dump({"groups": keep}, sort_keys=False))
    return out


def series_values(data, instances: int, samples: int, step: float, start: float):
    """[(labels, [values...])]: every synthetic series replicated over `instances` instances."""
    rng = random.Random(3)
    out = []
    for labels, spec in data.series.items():
        for i in range(instances):
            replica = labels.merged({"instance": f"host-{i}:9100"}) if "instance" in labels else labels.merged({"replica": str(i)})
            values = []
            for k in range(samples):
                t = 1000.0 + k * step
                values.append(round(spec.level * spec.bucket_share * t, 6) if spec.counter
                              else spec.level * (1 + 0.05 * rng.uniform(-1, 1)))
            out.append((replica, values))
    return out


async def ours(rule_file: Path, series, samples: int, step: float, repeat: int) -> dict:
    groups, errors = load_rule_files([str(rule_file)])
    assert not errors, errors
    store = SeriesStore(retention=math.inf)
    engine = Engine(store)
    start = time.time() - samples * step
    for labels, values in series:
        for k, v in enumerate(values):
            store.append(labels, v, start + k * step)
    clock = SystemClock()
    manager = RuleManager(groups, engine=engine, series=store, store=_DiscardStore(), clock=clock)
    group_times: dict[str, list[float]] = {}
    rule_times: dict[str, list[float]] = {}
    errors_seen: dict[str, str] = {}
    t = start + (samples - 1) * step
    for _ in range(repeat):
        await manager.evaluate_all(t)
        for g in manager.health():
            group_times.setdefault(g["name"], []).append(g["last_duration"])
            for r in g["rules"]:
                rule_times.setdefault(f"{g['name']}/{r['name']}", []).append(r["evaluationTime"])
                if r["health"] == "err":
                    errors_seen[f"{g['name']}/{r['name']}"] = r["lastError"]
    touched = {}
    for g in groups:
        for r in g.rules:
            try:
                engine.vector(r.expr, t)
            except Exception:
                pass
            touched[f"{g.name}/{r.name}"] = engine.last_series_touched
    return {
        "groups": {k: statistics.median(v) for k, v in group_times.items()},
        "rules": {k: {"seconds": statistics.median(v), "series_touched": touched.get(k, 0)} for k, v in rule_times.items()},
        "errors": errors_seen,
        "total_seconds": sum(statistics.median(v) for v in group_times.values()),
    }


def exposition(series, values_at: int) -> bytes:
    lines = []
    for labels, values in series:
        d = labels.to_dict()
        name = d.pop("__name__")
        body = ",".join(f'{k}="{v}"' for k, v in sorted(d.items()))
        lines.append(f"{name}{{{body}}} {values[min(values_at, len(values) - 1)]!r}")
    return ("\n".join(lines) + "\n").encode()


async def prometheus(rule_file: Path, series, samples: int, step: float, repeat: int, eval_interval: float) -> dict:
    from aiohttp import web

    from watchdog.rules.prometheus_process import PrometheusProcess

    scrapes = {"n": 0}
    # rendered up front so serving costs (almost) no CPU that Prometheus's evaluation would compete with
    bodies = [exposition(series, k) for k in range(samples)]

    async def metrics(_: web.Request) -> web.Response:
        body = bodies[min(scrapes["n"], samples - 1)]
        scrapes["n"] += 1
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    target = f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        prom = PrometheusProcess(Path(tmp), [target], scrape_interval=f"{int(step)}s", rule_files=[str(rule_file)],
                                 evaluation_interval=f"{int(eval_interval)}s")
        config = yaml.safe_load(prom.config_path.read_text())
        config["scrape_configs"][0]["honor_labels"] = True
        config["scrape_configs"][0]["scrape_timeout"] = f"{int(step)}s"
        prom.config_path.write_text(yaml.safe_dump(config))
        prom.start()
        try:
            await prom.wait_for("up == 1", timeout=120)
            while scrapes["n"] < samples:
                await asyncio.sleep(step)
            durations: dict[str, list[float]] = {}
            rule_times: dict[str, list[float]] = {}
            for _ in range(repeat):
                await asyncio.sleep(eval_interval)
                text = await asyncio.to_thread(_get, f"{prom.url}/metrics")
                for m in re.finditer(r'^prometheus_rule_group_last_duration_seconds\{rule_group="[^;]*;([^"]*)"\} (\S+)$', text, re.M):
                    durations.setdefault(m.group(1), []).append(float(m.group(2)))
                api = json.loads(await asyncio.to_thread(_get, f"{prom.url}/api/v1/rules"))
                for g in api["data"]["groups"]:
                    for r in g["rules"]:
                        rule_times.setdefault(f"{g['name']}/{r['name']}", []).append(r["evaluationTime"])
        finally:
            prom.stop()
            await runner.cleanup()
    return {
        "groups": {k: statistics.median(v) for k, v in durations.items()},
        "rules": {k: statistics.median(v) for k, v in rule_times.items()},
        "total_seconds": sum(statistics.median(v) for v in durations.values()),
        "version": _version(prom.binary),
    }


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read().decode()


def _version(binary: str) -> str:
    import subprocess

    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout + ""
    return out.splitlines()[0] if out else "unknown"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000, help="about this many series in total")
    ap.add_argument("--samples", type=int, default=60, help="samples per series")
    ap.add_argument("--step", type=float, default=1.0, help="seconds between samples (Prometheus's scrape interval)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-prometheus", action="store_true")
    ap.add_argument("--prometheus-eval-interval", type=float, default=10.0,
                    help="Prometheus spreads its groups over this interval, so they rarely run at the same time")
    args = ap.parse_args()
    corpus = SHARED / "conformance" / "rules" / "awesome_prometheus_alerts.yml"
    with tempfile.TemporaryDirectory() as tmp:
        rule_file = select_groups(corpus, Path(tmp) / "bench.rules.yml")
        groups, errors = load_rule_files([str(rule_file)])
        data = build(Engine(SeriesStore()).parse(r.expr) for g in groups for r in g.rules)
        instances = max(1, round(args.series / max(1, len(data.series))))
        series = series_values(data, instances, args.samples, args.step, 0.0)
        result: dict = {
            "exporters": EXPORTERS, "groups": len(groups), "rules": sum(len(g.rules) for g in groups),
            "series": len(series), "samples_per_series": args.samples, "step_seconds": args.step,
            "watchdog": await ours(rule_file, series, args.samples, args.step, args.repeat),
        }
        if not args.no_prometheus and shutil.which("prometheus"):
            result["prometheus"] = await prometheus(rule_file, series, args.samples, args.step, args.repeat, args.prometheus_eval_interval)
            p = result["prometheus"]["total_seconds"]
            result["ratio_total_watchdog_over_prometheus"] = result["watchdog"]["total_seconds"] / p if p else None
    print(json.dumps(result, indent=1, sort_keys=False))


if __name__ == "__main__":
    asyncio.run(main())
