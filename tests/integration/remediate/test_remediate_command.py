"""The command runner against real subprocesses: literal arguments, refusals, timeouts, floods, env."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from watchdog.clock import SYSTEM_CLOCK
from watchdog.remediate.base import ActionContext, ActionRefused
from watchdog.remediate.command import MAX_ARG_BYTES, CommandRunner, run_process
from watchdog.remediate.spec import CommandAction


def script(dir: Path, name: str, body: str) -> Path:
    path = dir / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


ARGV_WRITER = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["OUT"], "w") as f:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}}, f)
"""


@pytest.fixture
def writer(tmp_path: Path) -> Path:
    path = tmp_path / "scripts" / "write-argv.py"
    path.parent.mkdir()
    path.write_text(ARGV_WRITER)
    path.chmod(0o755)
    return path


def ctx(tmp_path: Path, labels: dict[str, str], **kw) -> ActionContext:
    return ActionContext(remediation="fix", labels={"alertname": "Down", **labels}, base_dir=str(tmp_path), **kw)


def action(argv: list[str], **kw) -> CommandAction:
    return CommandAction(type="command", argv=argv, env=kw.pop("env", ["PATH", "OUT"]), **kw)


async def run(runner: CommandRunner, act: CommandAction, c: ActionContext, run_id: int = 7):
    prepared = runner.prepare(act, c)
    return prepared, await runner.execute(prepared, run_id=run_id, ctx=c, clock=SYSTEM_CLOCK)


HOSTILE = [
    "; rm -rf /",
    "$(id)",
    "`id`",
    "a\nb\nc",
    "x' \"y\" | cat > /tmp/pwned",
    "*",
    "L" * 20000,
    "héllo wörld ☃",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_label_values_arrive_as_one_literal_argument(tmp_path, writer, value):
    out = tmp_path / "out.json"
    runner = CommandRunner({"PATH": os.environ["PATH"], "OUT": str(out)})
    act = action(["scripts/write-argv.py", "--target={{ $labels.target }}", "{{ $labels.target }}", "fixed"])
    prepared, result = await run(runner, act, ctx(tmp_path, {"target": value}))
    assert result.ok, result
    got = json.loads(out.read_text())
    assert got["argv"] == [f"--target={value}", value, "fixed"]
    assert prepared.describe()["argv"] == ["scripts/write-argv.py", f"--target={value}", value, "fixed"]
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("template", ["{{ $labels.target }}", " {{- $labels.target }}", "{{ $labels.target }}-suffix"])
@pytest.mark.parametrize("value", ["--flag=x", "-rf", "--"])
def test_a_label_value_that_would_start_an_argument_with_dash_is_refused(tmp_path, writer, template, value):
    runner = CommandRunner({"PATH": os.environ["PATH"]})
    act = action(["scripts/write-argv.py", "ok", template])
    with pytest.raises(ActionRefused, match=r"argv\[2\].*start the argument with '-'"):
        runner.prepare(act, ctx(tmp_path, {"target": value}))


def test_an_element_that_renders_empty_is_refused(tmp_path, writer):
    runner = CommandRunner({"PATH": os.environ["PATH"]})
    act = action(["scripts/write-argv.py", '{{ index $annotations "missing" }}'])
    with pytest.raises(ActionRefused, match="renders an empty argument"):
        runner.prepare(act, ctx(tmp_path, {}))


def test_a_literal_prefix_makes_a_dash_value_safe(tmp_path, writer):
    runner = CommandRunner({"PATH": os.environ["PATH"]})
    prepared = runner.prepare(action(["scripts/write-argv.py", "--target={{ $labels.target }}"]), ctx(tmp_path, {"target": "--x"}))
    assert prepared.argv[1] == "--target=--x"


@pytest.mark.parametrize(
    "labels,match",
    [
        ({"target": "a\x00b"}, "NUL"),
        ({}, "label\\(s\\) the alert does not have: target"),
        ({"target": "x" * (MAX_ARG_BYTES + 1)}, "limit"),
        ({"target": "bad\udcffbytes\ud800"}, "not encodable"),
    ],
)
def test_unsafe_rendered_arguments_are_refused(tmp_path, writer, labels, match):
    runner = CommandRunner({"PATH": os.environ["PATH"]})
    with pytest.raises(ActionRefused, match=match):
        runner.prepare(action(["scripts/write-argv.py", "t={{ $labels.target }}"]), ctx(tmp_path, labels))


async def test_non_utf8_label_bytes_pass_through_surrogateescape(tmp_path, writer):
    out = tmp_path / "out.json"
    runner = CommandRunner({"PATH": os.environ["PATH"], "OUT": str(out)})
    value = b"caf\xe9".decode("utf-8", "surrogateescape")
    _, result = await run(runner, action(["scripts/write-argv.py", "v={{ $labels.target }}"]), ctx(tmp_path, {"target": value}))
    assert result.ok, result
    # the child (python) decodes argv with surrogateescape too: the same code point comes back
    assert json.loads(out.read_text())["argv"] == ["v=" + value]


async def test_env_is_the_allow_list_plus_alert_variables_and_cwd_is_the_spec_dir(tmp_path, writer):
    out = tmp_path / "out.json"
    environ = {"PATH": os.environ["PATH"], "OUT": str(out), "HOME": "/root", "AWS_SECRET": "x" * 10}
    runner = CommandRunner(environ)
    labels = {"target": "demo", "service-name": "web", "value": "9"}
    _, result = await run(runner, action(["scripts/write-argv.py"]), ctx(tmp_path, labels), run_id=42)
    assert result.ok, result
    env = json.loads(out.read_text())["env"]
    assert "HOME" not in env and "AWS_SECRET" not in env
    assert env["OUT"] == str(out)
    assert env["WATCHDOG_ALERT_NAME"] == "Down"
    assert env["WATCHDOG_ALERT_TARGET"] == "demo"
    assert env["WATCHDOG_ALERT_SERVICE_NAME"] == "web"
    assert json.loads(env["WATCHDOG_ALERT_LABELS"]) == {"alertname": "Down", **labels}
    assert env["WATCHDOG_REMEDIATION"] == "fix"
    assert env["WATCHDOG_RUN_ID"] == "42"
    assert json.loads(out.read_text())["cwd"] == str(tmp_path)


async def test_cwd_relative_to_the_spec_dir(tmp_path, writer):
    out = tmp_path / "out.json"
    runner = CommandRunner({"PATH": os.environ["PATH"], "OUT": str(out)})
    _, result = await run(runner, action(["scripts/write-argv.py"], cwd="scripts"), ctx(tmp_path, {}))
    assert result.ok
    assert json.loads(out.read_text())["cwd"] == str(tmp_path / "scripts")


async def test_exit_codes_and_output_are_captured(tmp_path):
    script(tmp_path, "fail.sh", "echo to-stdout; echo to-stderr >&2; exit 3\n")
    runner = CommandRunner({"PATH": os.environ["PATH"]})
    _, result = await run(runner, action(["./fail.sh"]), ctx(tmp_path, {}))
    assert not result.ok and result.exit_code == 3 and not result.timed_out
    assert result.reason == "exit code 3"
    assert "to-stdout" in result.output_tail and "to-stderr" in result.output_tail
    assert result.ended_at >= result.started_at


async def test_secret_env_values_never_reach_the_recorded_output(tmp_path):
    script(tmp_path, "leak.sh", 'echo "token is $API_TOKEN and path ok"\n')
    runner = CommandRunner({"PATH": os.environ["PATH"], "API_TOKEN": "s3cr3t-value-123"})
    _, result = await run(runner, action(["./leak.sh"], env=["PATH", "API_TOKEN"]), ctx(tmp_path, {}))
    assert result.ok
    assert "s3cr3t-value-123" not in result.output_tail
    assert "token is <redacted> and path ok" in result.output_tail


async def test_timeout_kills_the_whole_process_group_including_grandchildren(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    script(tmp_path, "hang.sh", f"""\
        trap '' TERM
        sh -c 'trap "" TERM; echo $$ > {pidfile}; exec sleep 300' &
        echo started
        sleep 300
        """)
    runner = CommandRunner({"PATH": os.environ["PATH"]}, kill_grace=0.3)
    _, result = await run(runner, action(["./hang.sh"], timeout=0.8), ctx(tmp_path, {}))
    assert result.timed_out and not result.ok
    assert "timed out after 0.8s" in result.reason
    assert "started" in result.output_tail
    grandchild = int(pidfile.read_text())
    # SIGKILL was sent to the group; its delivery is asynchronous, so allow a moment
    for _ in range(100):
        if _dead(grandchild):
            break
        await asyncio.sleep(0.02)
    assert _dead(grandchild), f"grandchild {grandchild} survived the timeout"
    assert result.ended_at - result.started_at < 5


async def test_leftover_background_child_does_not_hang_the_runner(tmp_path):
    pidfile = tmp_path / "bg.pid"
    script(tmp_path, "bg.sh", f"sleep 300 & echo $! > {pidfile}\necho done\n")
    runner = CommandRunner({"PATH": os.environ["PATH"]})
    _, result = await run(runner, action(["./bg.sh"], timeout=10), ctx(tmp_path, {}))
    try:
        assert result.ok and "done" in result.output_tail
        assert result.ended_at - result.started_at < 5
    finally:
        os.kill(int(pidfile.read_text()), 9)


async def test_output_flood_is_capped_to_the_tail(tmp_path):
    # ~8 MiB of output, then a last line: we must keep reading (no hang) and keep only the tail
    script(tmp_path, "flood.sh", "head -c 8000000 /dev/zero | tr '\\0' 'x'; echo; echo LAST-LINE\n")
    runner = CommandRunner({"PATH": os.environ["PATH"]}, output_cap=4096)
    _, result = await run(runner, action(["./flood.sh"], timeout=30), ctx(tmp_path, {}))
    assert result.ok
    assert result.output_tail.rstrip().endswith("LAST-LINE")
    assert result.output_tail.startswith("[... ")
    assert len(result.output_tail) < 4096 + 64


async def test_missing_program_is_refused_and_unstartable_is_an_error(tmp_path):
    runner = CommandRunner({"PATH": os.environ["PATH"]})
    with pytest.raises(ActionRefused, match="not found"):
        runner.prepare(action(["scripts/nope.sh"]), ctx(tmp_path, {}))
    result = await run_process(["/nonexistent/prog"], env={}, cwd=str(tmp_path), timeout=5, clock=SYSTEM_CLOCK)
    assert result.error.startswith("cannot start /nonexistent/prog") and result.exit_code is None


async def test_shell_true_runs_the_string_with_alert_env_and_is_logged_at_every_run(tmp_path, caplog):
    out = tmp_path / "shell.out"
    act = CommandAction(type="command", shell=True, command=f'echo "$WATCHDOG_ALERT_TARGET" >> {out}', env=["PATH"])
    runner = CommandRunner({"PATH": os.environ["PATH"]})
    caplog.set_level("WARNING", logger="watchdog.remediate")
    for _ in range(2):
        prepared, result = await run(runner, act, ctx(tmp_path, {"target": "$(id)"}))
        assert result.ok
    assert out.read_text() == "$(id)\n$(id)\n"
    assert prepared.describe()["shell"] is True
    shell_logs = [r for r in caplog.records if "runs a shell command (shell: true)" in r.getMessage()]
    assert len(shell_logs) == 2 and all(r.levelname == "WARNING" for r in shell_logs)


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return True
    return state == "Z"
