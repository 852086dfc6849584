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
    urllib.request.urlopen(urllib.request.Request(sys.argv[2] + "/heal", method="POST"), timeout=5).read()
    print("healed")
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
