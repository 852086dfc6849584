"""The http, systemd and docker runners against real servers and a stand-in systemctl; run-as-user."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from aiohttp import web

from watchdog.clock import SYSTEM_CLOCK
from watchdog.remediate.base import ActionContext, ActionRefused
from watchdog.remediate.command import CommandRunner
from watchdog.remediate.docker import DockerRunner
from watchdog.remediate.http import HttpRunner
from watchdog.remediate.spec import CommandAction, DockerAction, HttpAction, SystemdAction
from watchdog.remediate.systemd import SystemdRunner

HOSTILE = ["; rm -rf /", "$(id)", "`id`", "a\nb", "../../x?y=1#z", 'q"uote\\', "--force"]


def ctx(labels: dict[str, str], base_dir: str = ".", change=None) -> ActionContext:
    return ActionContext(remediation="r", labels={"alertname": "Down", **labels}, base_dir=base_dir, change=change)


async def run(runner, action, c: ActionContext):
    prepared = runner.prepare(action, c)
    return prepared, await runner.execute(prepared, run_id=3, ctx=c, clock=SYSTEM_CLOCK)


# -- http -------------------------------------------------------------------------
@pytest.fixture
async def deploy_api():
    seen: list[dict] = []

    async def rollback(request: web.Request) -> web.Response:
        seen.append({"path": request.match_info["service"], "raw_path": request.raw_path, "query": dict(request.query),
                     "headers": dict(request.headers), "body": await request.text(), "method": request.method})
        status = int(request.query.get("status", "202"))
        return web.Response(status=status, text=f"ok {request.headers.get('X-Api-Key', '')}")

    app = web.Application()
    app.router.add_route("*", "/services/{service}/rollback", rollback)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_http_label_values_stay_one_path_segment_and_one_json_string(deploy_api, value):
    base, seen = deploy_api
    act = HttpAction(type="http", url=base + "/services/{{ $labels.service }}/rollback",
                     body={"service": "{{ $labels.service }}", "to": "{{ $change.previous_version }}", "n": 1},
                     headers={"X-Api-Key": "s3cr3t-key"})
    prepared, result = await run(HttpRunner(), act, ctx({"service": value}, change={"previous_version": "v1"}))
    assert result.ok, result
    (req,) = seen
    assert req["path"] == value and req["query"] == {}          # one segment, no query smuggled in
    assert json.loads(req["body"]) == {"service": value, "to": "v1", "n": 1}
    assert req["headers"]["X-Api-Key"] == "s3cr3t-key" and req["headers"]["X-Watchdog-Run-Id"] == "3"
    # the header value is never recorded and is redacted from the recorded response
    assert "s3cr3t-key" not in json.dumps(prepared.describe()) and "s3cr3t-key" not in result.output_tail
    assert result.output_tail.startswith("HTTP 202\nok <redacted>")


async def test_http_unexpected_status_fails_and_bearer_token_is_sent_not_recorded(deploy_api, tmp_path):
    base, seen = deploy_api
    (tmp_path / "token").write_text("tok-123456\n")
    act = HttpAction(type="http", method="PUT", url=base + "/services/web/rollback?status=500", bearer_token_file="token",
                     expected_status=200)
    prepared, result = await run(HttpRunner(), act, ctx({}, base_dir=str(tmp_path)))
    assert not result.ok and "status 500 (expected 200)" in result.reason
    assert seen[0]["headers"]["Authorization"] == "Bearer tok-123456" and seen[0]["method"] == "PUT"
    assert prepared.describe()["headers"] == ["Authorization"]
    assert "tok-123456" not in json.dumps(prepared.describe()) + result.output_tail + result.reason


async def test_http_unreachable_and_timeout_are_results_not_exceptions(deploy_api):
    base, _ = deploy_api
    act = HttpAction(type="http", url="http://127.0.0.1:1/x", timeout=2)
    _, result = await run(HttpRunner(), act, ctx({}))
    assert not result.ok and "POST http://127.0.0.1:1/x" in result.reason


def test_http_missing_label_or_change_is_refused():
    act = HttpAction(type="http", url="http://x/{{ $labels.service }}")
    with pytest.raises(ActionRefused, match="label"):
        HttpRunner().prepare(act, ctx({}))
    act = HttpAction(type="http", url="http://x/", body={"v": "{{ $change.previous_version }}"})
    with pytest.raises(ActionRefused, match=r"\$change"):
        HttpRunner().prepare(act, ctx({}))


# -- systemd ------------------------------------------------------------------------
@pytest.fixture
def fake_systemctl(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    path = bin_dir / "systemctl"
    path.write_text(f"""#!{sys.executable}
import json, sys
with open({str(log)!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
unit = sys.argv[-1]
if unit.startswith("missing"):
    print("Failed to restart " + unit + ": Unit " + unit + " not found.", file=sys.stderr)
    sys.exit(5)
""")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return SystemdRunner(environ=env), calls


async def test_systemd_runs_systemctl_with_the_validated_unit(fake_systemctl):
    runner, calls = fake_systemctl
    act = SystemdAction(type="systemd", unit="web@{{ $labels.instance }}.service", operation="restart")
    prepared, result = await run(runner, act, ctx({"instance": "blue-1"}))
    assert result.ok, result
    assert calls() == [["--no-ask-password", "restart", "--", "web@blue-1.service"]]
    assert prepared.describe()["unit"] == "web@blue-1.service"
    # a dash inside the grammar is part of one unit name, after `--`: never an option
    await run(runner, act, ctx({"instance": "--force"}))
    assert calls()[-1] == ["--no-ask-password", "restart", "--", "web@--force.service"]


async def test_systemd_failure_is_recorded_with_output(fake_systemctl):
    runner, calls = fake_systemctl
    act = SystemdAction(type="systemd", unit="missing.service", operation="reload", user_manager=True)
    _, result = await run(runner, act, ctx({}))
    assert not result.ok and result.exit_code == 5 and "not found" in result.output_tail
    assert calls() == [["--no-ask-password", "--user", "reload", "--", "missing.service"]]


SYSTEMD_HOSTILE = [v for v in HOSTILE if v != "--force"] + ["x.service other", "a" * 300]


@pytest.mark.parametrize("value", SYSTEMD_HOSTILE, ids=range(len(SYSTEMD_HOSTILE)))
def test_systemd_hostile_instance_is_refused_before_anything_runs(fake_systemctl, value):
    runner, calls = fake_systemctl
    act = SystemdAction(type="systemd", unit="web@{{ $labels.instance }}.service")
    with pytest.raises(ActionRefused, match="invalid systemd unit name"):
        runner.prepare(act, ctx({"instance": value}))
    assert calls() == []


# -- docker ---------------------------------------------------------------------------
@pytest.fixture
async def docker_engine(tmp_path: Path):
    """A unix-socket server answering as the Docker Engine API does."""
    seen: list[tuple[str, str, dict]] = []

    async def op(request: web.Request) -> web.Response:
        name, verb = request.match_info["name"], request.match_info["op"]
        seen.append((verb, name, dict(request.query)))
        if name == "ghost":
            return web.json_response({"message": f"No such container: {name}"}, status=404)
        if name == "broken":
            return web.json_response({"message": "Cannot restart container broken: OCI runtime error"}, status=500)
        if name == "idle" and verb == "stop":
            return web.Response(status=304)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/containers/{name}/{op}", op)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = str(tmp_path / "docker.sock")
    site = web.UnixSite(runner, sock)
    await site.start()
    yield sock, seen
    await runner.cleanup()


async def test_docker_restart_204(docker_engine):
    sock, seen = docker_engine
    act = DockerAction(type="docker", container="{{ $labels.container }}", socket=sock, stop_timeout=4)
    prepared, result = await run(DockerRunner(), act, ctx({"container": "web-1"}))
    assert result.ok and "done (204)" in result.output_tail
    assert seen == [("restart", "web-1", {"t": "4"})]
    assert prepared.describe()["request"] == "POST /containers/web-1/restart?t=4"


async def test_docker_404_500_and_304(docker_engine):
    sock, _ = docker_engine
    _, missing = await run(DockerRunner(), DockerAction(type="docker", container="ghost", socket=sock), ctx({}))
    assert not missing.ok and "no such container (404)" in missing.reason and "No such container: ghost" in missing.output_tail
    _, broken = await run(DockerRunner(), DockerAction(type="docker", container="broken", socket=sock), ctx({}))
    assert not broken.ok and "answered 500: Cannot restart container broken" in broken.reason
    _, idle = await run(DockerRunner(), DockerAction(type="docker", container="idle", operation="stop", socket=sock), ctx({}))
    assert idle.ok and "already stopped (304)" in idle.output_tail


async def test_docker_unreachable_socket_is_a_failed_result(tmp_path):
    _, result = await run(DockerRunner(), DockerAction(type="docker", container="web", socket=str(tmp_path / "nope.sock")), ctx({}))
    assert not result.ok and "cannot reach the Docker Engine" in result.reason


@pytest.mark.parametrize("value", HOSTILE + ["../images/json"], ids=range(len(HOSTILE) + 1))
def test_docker_hostile_container_name_is_refused(value):
    with pytest.raises(ActionRefused, match="invalid container name"):
        DockerRunner().prepare(DockerAction(type="docker", container="{{ $labels.c }}"), ctx({"c": value}))


# -- run as user ------------------------------------------------------------------------
@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
async def test_command_runs_as_the_configured_user(tmp_path):
    import pwd

    nobody = pwd.getpwnam("nobody")
    act = CommandAction(type="command", argv=["id"], user="nobody", env=["PATH"])
    prepared, result = await run(CommandRunner(), act, ctx({}, base_dir="/"))
    assert result.ok, result
    assert f"uid={nobody.pw_uid}" in result.output_tail and f"gid={nobody.pw_gid}" in result.output_tail
    assert "groups=0" not in result.output_tail and prepared.describe()["user"] == "nobody"


@pytest.mark.skipif(os.geteuid() == 0, reason="as root the switch is allowed")
def test_run_as_user_is_refused_when_not_root():
    with pytest.raises(ActionRefused, match="not running as root"):
        CommandRunner().prepare(CommandAction(type="command", argv=["id"], user="nobody"), ctx({}, base_dir="/"))
