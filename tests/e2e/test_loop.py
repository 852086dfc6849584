"""The whole loop with the daemon as a process: break a real service, watch it get paged, fixed, verified, resolved."""

from __future__ import annotations

import signal
import time

import pytest

from e2e_support import TOKEN, free_port, http, wait_for, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

DRAIN_BOUND = 3.0


def metric_sum(exposition: str, name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels`; fails when there is none."""
    from prometheus_client.parser import text_string_to_metric_families

    values = [s.value for family in text_string_to_metric_families(exposition) for s in family.samples
              if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert values, f"no sample {name}{labels} in /metrics"
    return sum(values)


def _kinds(events, name="DemoServiceDown"):
    return [e["kind"] for e in events if e.get("labels", {}).get("alertname") == name or e["kind"].startswith("config.")]


async def test_break_page_remediate_verify_resolve(tmp_path, demo, webhook, start_daemon):
    api_port = free_port()
    config = write_config(tmp_path, demo, webhook.url, api_port)
    daemon = start_daemon(config, api_port)

    await wait_for("/readyz 200", lambda: daemon.get("/readyz")[0] == 200, 15, daemon.log)
    await wait_for("target demo up", lambda: [t for t in daemon.get("/api/v1/targets")[1]["data"]["targets"]
                                              if t["name"] == "demo" and t["health"] == "up"], 10, daemon.log)
    assert http("POST", demo.url + "/break?mode=crash")[0] == 200
    broke_at = time.monotonic()

    def firing():
        alerts = daemon.get("/api/v1/alerts")[1]["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "DemoServiceDown" and a["state"] == "firing"]

    alert = (await wait_for("alert firing", firing, 15, daemon.log))[0]
    assert alert["labels"]["target"] == "demo" and alert["labels"]["severity"] == "page"
    assert alert["annotations"]["summary"] == f"demo is down ({demo.url}/health)"
    assert alert["firedAt"] is not None and alert["value"] == "0e+00"

    await wait_for("firing webhook", lambda: "firing" in webhook.statuses(), 10, daemon.log)
    firing_post = next(p for p in webhook.posts if p["status"] == "firing")
    assert firing_post["version"] == "4"
    assert firing_post["alerts"][0]["labels"]["alertname"] == "DemoServiceDown"

    def remediation_verified():
        kinds = [e["kind"] for e in daemon.events()]
        return "remediation.verified" in kinds and kinds

    kinds = await wait_for("remediation verified", remediation_verified, 25, daemon.log)
    steps = [k for k in kinds if k in ("remediation.started", "remediation.succeeded", "remediation.verified")]
    assert steps[:3] == ["remediation.started", "remediation.succeeded", "remediation.verified"]
    started_event = next(e for e in daemon.events() if e["kind"] == "remediation.started")
    assert started_event["remediation"] == "restart-demo"
    assert started_event["labels"]["alertname"] == "DemoServiceDown"
    # The service really is back.
    assert http("GET", demo.url + "/health")[0] == 200

    await wait_for("resolved webhook", lambda: "resolved" in webhook.statuses(), 15, daemon.log)
    assert webhook.statuses().index("firing") < webhook.statuses().index("resolved")
    all_kinds = [e["kind"] for e in daemon.events()]
    # The alert resolves through its rule once probes succeed again. The restarted service can
    # answer a probe before the restart script has exited, so `alert.resolved` may land before
    # `remediation.succeeded`; verification counts only samples newer than the action's end.
    order = ["alert.firing", "remediation.started", "remediation.succeeded", "remediation.verified"]
    positions = [all_kinds.index(k) for k in order]
    assert positions == sorted(positions), all_kinds
    assert all_kinds.index("alert.firing") < all_kinds.index("alert.resolved"), all_kinds
    assert time.monotonic() - broke_at < 40

    # /metrics counted the whole loop under watchdog_* names (a fresh process: these are this run's numbers).
    metrics = daemon.get("/metrics")[1]
    assert metric_sum(metrics, "watchdog_probe_total", type="http", result="failure") >= 1
    assert metric_sum(metrics, "watchdog_probe_total", type="http", result="success") >= 1
    assert metric_sum(metrics, "watchdog_probe_schedule_lag_seconds_count") >= 1
    assert metric_sum(metrics, "watchdog_rule_evaluations_total") >= 1
    assert metric_sum(metrics, "watchdog_notify_notifications_total") >= 2  # firing and resolved
    assert metric_sum(metrics, "watchdog_remediation_runs_total") >= 1
    assert metric_sum(metrics, "watchdog_remediation_duration_seconds_count") >= 1
    assert metric_sum(metrics, "watchdog_tsdb_samples_appended_total") >= 1
    assert "watchdog_state_pruned_rows_total" in metrics  # the retention job is wired
    assert metric_sum(metrics, "watchdog_ready") == 1

    stop_at = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.proc.wait(DRAIN_BOUND + 5)
    assert code == 0, daemon.log()[-4000:]
    assert time.monotonic() - stop_at < DRAIN_BOUND + 5
    log = daemon.log()
    assert "draining" in log and "stopped" in log
    assert TOKEN not in log


async def test_sighup_reload_bad_then_good(tmp_path, demo, webhook, start_daemon):
    api_port = free_port()
    config = write_config(tmp_path, demo, webhook.url, api_port)
    daemon = start_daemon(config, api_port)
    await wait_for("/readyz 200", lambda: daemon.get("/readyz")[0] == 200, 15, daemon.log)
    good_text = config.read_text()
    groups = (await wait_for("rule group evaluated", lambda: [g for g in daemon.get("/api/v1/rules")[1]["data"]["groups"]
                                                              if g["health"] == "ok"], 10, daemon.log))
    assert groups[0]["name"] == "demo" and groups[0]["rules"][0]["name"] == "DemoServiceDown"

    # Broken: an unknown key and a target without url; the old config must keep running.
    broken = good_text.replace("    interval: 500ms\n", "    interval: 500ms\n    bogus_key: 1\n").replace(
        f"    url: {demo.url}/health\n", "")
    config.write_text(broken)
    daemon.signal(signal.SIGHUP)

    def reload_failed():
        return [e for e in daemon.events() if e["kind"] == "config.reload_failed"]

    failed = (await wait_for("config.reload_failed", reload_failed, 10, daemon.log))[0]
    assert failed["errors"] and all(str(config) in line or "config.yaml" in line for line in failed["errors"])
    log = daemon.log()
    error_lines = [line for line in log.splitlines() if "config error:" in line]
    assert error_lines, log
    assert any(f"{config}:" in line and "targets[0]" in line for line in error_lines), error_lines
    # file:line:col on each error line
    import re
    assert all(re.search(r"config\.yaml:\d+:\d+: ", line) for line in error_lines), error_lines
    status, metrics = daemon.get("/metrics")
    assert "watchdog_config_last_reload_successful 0.0" in metrics
    assert daemon.get("/readyz")[0] == 200
    targets = daemon.get("/api/v1/targets")[1]["data"]["targets"]
    assert [t["name"] for t in targets] == ["demo"]

    # Good: add a second target; reload through the API with the token.
    second = good_text.replace("rule_files:", f"""  - name: demo-metrics
    type: scrape
    url: {demo.url}/metrics
    interval: 1s
    timeout: 500ms
rule_files:""")
    config.write_text(second)
    assert http("POST", daemon.api + "/-/reload")[0] == 401
    status, body = http("POST", daemon.api + "/-/reload", token=TOKEN)
    assert status == 200, body
    kinds = [e["kind"] for e in daemon.events()]
    assert kinds.index("config.reload_failed") < kinds.index("config.reloaded")
    assert "watchdog_config_last_reload_successful 1.0" in daemon.get("/metrics")[1]
    await wait_for("second target probed", lambda: [t for t in daemon.get("/api/v1/targets")[1]["data"]["targets"]
                                                    if t["name"] == "demo-metrics" and t["health"] == "up"], 10, daemon.log)

    daemon.signal(signal.SIGTERM)
    assert daemon.proc.wait(DRAIN_BOUND + 5) == 0


@pytest.mark.parametrize("broken, expected", [
    ("targets:\n  - {name: demo, type: http, interval: 1s}\nbogus: 1\n", ["targets[0]", "bogus"]),
    ("storage: {path: ./db-is-a-directory}\n", ["cannot open the store"]),
])
def test_failed_start_exits_1_with_reasons(tmp_path, broken, expected):
    import subprocess
    import sys

    (tmp_path / "db-is-a-directory").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f'api: {{listen: "127.0.0.1:{free_port()}"}}\n' + broken)
    result = subprocess.run([sys.executable, "-m", "watchdog.cli", "run", "-c", str(config)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert "start failed" in result.stderr
    assert "Traceback" not in result.stderr
