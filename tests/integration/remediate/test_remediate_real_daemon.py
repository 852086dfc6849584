"""Remediation with the daemon as a process: a SIGKILL mid-action (the run is interrupted, counts
against the budget and is not re-run), and what the webhook really receives (the verified note on
the resolved notice, the output tail on a failure)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from remediate_daemon_support import (  # noqa: F401  (fixtures)
    ROOT, base_config, demo, free_port, http, start_daemon, wait_for, webhook,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

# Appends one line per start (its pid and argv) to $MARKER, then does what its first argument says.
ACTION = f"""#!{sys.executable}
import json, os, sys, time, urllib.request
with open(os.environ["MARKER"], "a") as f:
    f.write(json.dumps({{"pid": os.getpid(), "argv": sys.argv[1:]}}) + "\\n")
what = sys.argv[1]
if what == "hang":
    time.sleep(120)
elif what == "heal":
    # like `systemctl restart`: returns at once, the service is healthy a moment later
    import subprocess
    later = "import time, urllib.request, sys; time.sleep(0.3); urllib.request.urlopen(urllib.request.Request(sys.argv[1] + '/heal', method='POST'), timeout=5)"
    subprocess.Popen([sys.executable, "-c", later, sys.argv[2]], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("healing")
else:
    print("restart failed: the unit would not come back")
    sys.exit(1)
"""

RULES = """\
groups:
  - name: down
    interval: 250ms
    rules:
      - alert: ServiceDown
        expr: probe_success == 0
        for: 500ms
        annotations: {summary: "{{ $labels.target }} is down"}
"""


def write_action(directory: Path) -> Path:
    path = directory / "action.py"
    path.write_text(ACTION)
    path.chmod(0o755)
    return path


def starts(marker: Path) -> list[dict]:
    return [json.loads(line) for line in marker.read_text().splitlines()] if marker.exists() else []


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)   # the action runs in its own session: its pid is its group
    except ProcessLookupError:
        pass


async def test_sigkill_mid_action_leaves_an_interrupted_run_that_counts_and_is_not_rerun(tmp_path, webhook, start_daemon):
    marker = tmp_path / "starts.jsonl"
    action = write_action(tmp_path)
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "remediations.yml").write_text(f"""\
remediations:
  - name: restart-dead
    match: ['alertname="ServiceDown"']
    action: {{type: command, argv: [{json.dumps(str(action))}, hang, "--target={{{{ $labels.target }}}}"], timeout: 60s, env: [PATH, MARKER]}}
    guardrails: {{cooldown: 0s, max_attempts: 1, window: 1h}}
""")
    api_port = free_port()
    config = base_config(tmp_path, api_port, webhook.url, rule_files=["rules.yml"], remediation_files=["remediations.yml"],
                         targets=f"  - {{name: dead, type: http, url: 'http://127.0.0.1:{free_port()}/health', interval: 200ms, timeout: 150ms}}")
    env = {"MARKER": str(marker)}
    first = start_daemon(config, api_port, env)
    try:
        await wait_for("the action started", lambda: starts(marker), 20, first.log)
        (run,) = await wait_for("the run recorded", first.runs, 5, first.log)
        assert run["status"] == "running" and run["trigger"] == "alert"
        assert run["action"]["argv"][1:] == ["hang", "--target=dead"]

        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
    finally:
        for s in starts(marker):
            kill_group(s["pid"])

    second = start_daemon(config, api_port, env)
    await wait_for("the restarted daemon ready", second.ready, 20, second.log)
    (run,) = second.runs()
    assert run["status"] == "interrupted" and run["ended_at"] is not None, run
    assert "interrupted" in run["note"]
    assert [e["run_id"] for e in second.events("remediation.interrupted")] == [run["id"]]

    # The alert fires again on the new daemon; the interrupted attempt spent the budget of 1: a human is told.
    skipped = await wait_for("the budget denial", lambda: second.events("remediation.skipped"), 20, second.log)
    assert skipped[0]["code"] == "max_attempts", skipped
    told = await wait_for("the escalation notice", lambda: [p for p in webhook.posts if p["status"] == "firing"
                                                            and "max attempts" in json.dumps(p)], 10, second.log)
    assert told[0]["alerts"][0]["labels"]["alertname"] == "ServiceDown"
    assert "restart-dead gave up: max attempts reached" in told[0]["alerts"][0]["annotations"]["remediation_output"]
    # ... and the action is not started again, round after round.
    time.sleep(2.0)
    assert len(starts(marker)) == 1
    assert [r["id"] for r in second.runs()] == [run["id"]]
    assert not second.events("remediation.started") or all(
        e["run_id"] == run["id"] for e in second.events("remediation.started"))


async def test_webhook_bodies_carry_the_verified_note_and_the_failed_output(tmp_path, demo, webhook, start_daemon):
    """One daemon, two broken targets: `demo` is healed and verified (the resolved notice says so);
    `dead` cannot be fixed (one notice at once with the action's output tail)."""
    marker = tmp_path / "starts.jsonl"
    action = write_action(tmp_path)
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "remediations.yml").write_text(f"""\
remediations:
  - name: heal-demo
    match: ['alertname="ServiceDown"', 'target="demo"']
    action: {{type: command, argv: [{json.dumps(str(action))}, heal, {json.dumps(demo.url)}], timeout: 10s, env: [PATH, MARKER]}}
    verify: {{expr: 'probe_success{{target="demo"}} == 1', within: 10s, interval: 1s}}
    guardrails: {{cooldown: 1m, max_attempts: 1, window: 1h}}
  - name: restart-dead
    match: ['alertname="ServiceDown"', 'target="dead"']
    action: {{type: command, argv: [{json.dumps(str(action))}, fail], timeout: 10s, env: [PATH, MARKER]}}
    guardrails: {{cooldown: 1m, max_attempts: 1, window: 1h}}
""")
    api_port = free_port()
    targets = (f"  - {{name: demo, type: http, url: '{demo.url}/health', interval: 200ms, timeout: 150ms}}\n"
               f"  - {{name: dead, type: http, url: 'http://127.0.0.1:{free_port()}/health', interval: 200ms, timeout: 150ms}}")
    config = base_config(tmp_path, api_port, webhook.url, rule_files=["rules.yml"], remediation_files=["remediations.yml"], targets=targets)
    daemon = start_daemon(config, api_port, {"MARKER": str(marker)})
    await wait_for("ready", daemon.ready, 20, daemon.log)
    await wait_for("demo up", lambda: [t for t in daemon.get("/api/v1/targets")["targets"] if t["name"] == "demo" and t["health"] == "up"],
                   10, daemon.log)
    assert http("POST", demo.url + "/break?mode=500")[0] == 200

    def posts(target: str, status: str) -> list[dict]:
        return [a for p in webhook.posts if p["status"] == status for a in p["alerts"] if a["labels"].get("target") == target]

    # dead: the action fails -> one notice right away, the output tail in `remediation_output`
    failed = await wait_for("the failure notice", lambda: [a for a in posts("dead", "firing") if "remediation_output" in a["annotations"]],
                            15, daemon.log)
    assert "restart failed: the unit would not come back" in failed[0]["annotations"]["remediation_output"]
    assert failed[0]["annotations"]["summary"] == "dead is down"
    (dead_run,) = [r for r in daemon.runs() if r["spec"] == "restart-dead"]
    assert dead_run["status"] == "failed" and dead_run["exit_code"] == 1

    # demo: healed, verified, and the resolved notice says by what and after how long
    resolved = await wait_for("demo resolved", lambda: posts("demo", "resolved"), 20, daemon.log)
    # the alert may resolve before the verification's own next tick (1 s): the note is in the notice regardless
    (demo_run,) = await wait_for("demo verified", lambda: [r for r in daemon.runs() if r["spec"] == "heal-demo" and r["status"] == "verified"],
                                 15, daemon.log)
    assert demo_run["note"].startswith("remediated by heal-demo after ")
    assert resolved[-1]["annotations"].get("remediation") == demo_run["note"], (resolved, daemon.log()[-3000:])
    (verified,) = daemon.events("remediation.verified")
    assert verified["note"] == demo_run["note"]
    # the audit trail in GET /api/v1/remediations: trigger, spec, argv, start, end, exit code, output, verification, approver
    assert demo_run["trigger"] == "alert" and demo_run["labels"]["target"] == "demo"
    assert demo_run["action"]["argv"][1:] == ["heal", demo.url]
    assert demo_run["started_at"] <= demo_run["ended_at"] and demo_run["exit_code"] == 0
    assert "healing" in demo_run["output_tail"] and demo_run["verify"]["result"] == "verified"
    assert demo_run["approved_by"] == ""
    assert len(starts(marker)) == 2


async def test_shipped_rollback_runs_after_a_change_recorded_through_the_api(tmp_path, demo, webhook, start_daemon):
    """remediations/rollback-demo.yml and its script as shipped; the shipped rule with a shorter `for:`."""
    rule = (ROOT / "rules" / "demo-rollback.rules.yml").read_text()
    assert "for: 20s" in rule
    (tmp_path / "rollback.rules.yml").write_text(rule.replace("for: 20s", "for: 1s").replace("rules:\n", "interval: 250ms\n    rules:\n", 1))
    api_port = free_port()
    targets = (f"  - {{name: demo, type: http, url: '{demo.url}/health', interval: 100ms, timeout: 90ms, labels: {{service: demo}}}}\n"
               f"  - {{name: demo-metrics, type: scrape, url: '{demo.url}/metrics', interval: 250ms, timeout: 200ms, labels: {{service: demo}}}}")
    config = base_config(tmp_path, api_port, webhook.url, rule_files=["rollback.rules.yml"],
                         remediation_files=[str(ROOT / "remediations" / "rollback-demo.yml")], targets=targets)
    daemon = start_daemon(config, api_port, {"WATCHDOG_DEMO_PORT": str(demo.port)})
    await wait_for("ready", daemon.ready, 20, daemon.log)
    # the deploy pipeline tells the daemon about v2, then v2 fails every request
    status, body = daemon.post("/api/v1/changes", {"service": "demo", "version": "v2", "previous_version": "v1",
                                                   "link": "https://ci.example/builds/42"})
    assert status == 201, body
    assert http("POST", demo.url + "/break?mode=500")[0] == 200

    (run,) = await wait_for("the rollback verified", lambda: [r for r in daemon.runs() if r["status"] in ("verified", "failed", "verification_failed")],
                            40, daemon.log)
    assert run["spec"] == "rollback-demo" and run["status"] == "verified", run
    assert run["action"]["argv"][1:] == ["--service=demo", "--to=v1"]
    assert "rolling back demo to v1" in run["output_tail"]
    assert http("GET", demo.url + "/health")[0] == 200     # the script really healed it
    kinds = [e["kind"] for e in daemon.events()]
    assert kinds.index("change.recorded") < kinds.index("alert.firing") < kinds.index("remediation.started") < kinds.index("remediation.verified")
    (change,) = daemon.events("change.recorded")
    assert change["service"] == "demo" and change["version"] == "v2"
    await wait_for("resolved with the note", lambda: [a for p in webhook.posts if p["status"] == "resolved" for a in p["alerts"]
                                                      if a["annotations"].get("remediation", "").startswith("remediated by rollback-demo")],
                   30, daemon.log)
