"""The `command` action runner: an argv list, never a shell.

Label values are data. Each argv element is rendered on its own with the rule
template engine, so a value can only ever become (part of) one argument; a
value that would start an element with `-` (an option the program would
obey) or that contains NUL is refused before anything runs. The program runs
in its own session so a timeout can kill its whole process group
(grandchildren included); output is read continuously and only the tail is
kept, so a flood can neither hang us nor fill memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from watchdog.clock import Clock
from watchdog.remediate.base import ActionContext, ActionRefused, ActionResult
from watchdog.remediate.spec import CommandAction, resolve_executable
from watchdog.remediate.templating import render_field

log = logging.getLogger("watchdog.remediate.command")

OUTPUT_CAP = 64 * 1024          # bytes of output kept (the tail)
KILL_GRACE = 2.0                # seconds between SIGTERM and SIGKILL on timeout
DRAIN_AFTER_EXIT = 0.5          # keep reading this long after exit (a leftover child may hold the pipe)
MAX_ARG_BYTES = 32 * 1024       # a rendered argument longer than this is refused (Linux caps one at 128 KiB)
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASS|KEY|CRED|AUTH|PRIVATE|COOKIE|SESSION", re.IGNORECASE)
REDACTED = "<redacted>"
_ENV_UNSAFE = re.compile(r"[^A-Z0-9_]")


@dataclass(frozen=True, slots=True)
class PreparedCommand:
    argv: tuple[str, ...]            # rendered; argv[0] as written in the spec
    program: str                     # argv[0] resolved to a path
    cwd: str
    timeout: float
    env_allow: tuple[str, ...]
    shell_command: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    group: str | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "command", "argv": list(self.argv), "program": self.program, "cwd": self.cwd}
        if self.user is not None:
            out["user"] = self.user
        if self.group is not None:
            out["group"] = self.group
        if self.shell_command is not None:
            out["shell"] = True
            out["command"] = self.shell_command
        return out


def render_argv(templates: Sequence[str], ctx: ActionContext) -> list[str]:
    """Render each element alone; raises ActionRefused when a label value would be unsafe there."""
    out: list[str] = []
    for i, text in enumerate(templates):
        if "{{" not in text:
            out.append(text)
            continue
        value = render_field(text, ctx, f"argv[{i}]")
        check_rendered_arg(i, text, value)
        out.append(value)
    return out


def check_rendered_arg(index: int, template: str, value: str) -> None:
    """Refuse a rendered element that a label value made unsafe or meaningless."""
    literal_prefix = template.split("{{", 1)[0]
    if value.startswith("-") and not literal_prefix.startswith("-"):
        raise ActionRefused(f"argv[{index}]: a templated value would start the argument with '-' (refused: it could act as an option)")
    if "\x00" in value:
        raise ActionRefused(f"argv[{index}]: rendered argument contains a NUL byte")
    if value == "":
        raise ActionRefused(f"argv[{index}]: template renders an empty argument")
    try:
        size = len(value.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        raise ActionRefused(f"argv[{index}]: rendered argument is not encodable") from None
    if size > MAX_ARG_BYTES:
        raise ActionRefused(f"argv[{index}]: rendered argument is {size} bytes (limit {MAX_ARG_BYTES})")


def env_name_for_label(label: str) -> str:
    return "WATCHDOG_ALERT_" + _ENV_UNSAFE.sub("_", label.upper())


def build_env(allow: Sequence[str], ctx: ActionContext, run_id: int, environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The action's whole environment, and the values to redact from its output.

    Only allow-listed names pass from the daemon's environment; the alert is
    described in WATCHDOG_ALERT_*; the fixed names win over a label that
    sanitises to the same name.
    """
    env = {name: environ[name] for name in allow if name in environ}
    secrets = [env[name] for name in env if SECRET_NAME.search(name) and len(env[name]) >= 4]
    for label, value in sorted(ctx.labels.items()):
        if "\x00" not in value:
            env[env_name_for_label(label)] = value
    env["WATCHDOG_ALERT_NAME"] = ctx.labels.get("alertname", "")
    env["WATCHDOG_ALERT_LABELS"] = json.dumps(dict(sorted(ctx.labels.items())), ensure_ascii=True)
    env["WATCHDOG_REMEDIATION"] = ctx.remediation
    env["WATCHDOG_RUN_ID"] = str(run_id)
    # scripts that call back into the daemon's CLI can use the daemon's own interpreter
    env["WATCHDOG_PYTHON"] = sys.executable
    return env, secrets


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class CommandRunner:
    """Runs `type: command` actions."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, output_cap: int = OUTPUT_CAP, kill_grace: float = KILL_GRACE) -> None:
        self._environ = environ
        self.output_cap = output_cap
        self.kill_grace = kill_grace

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def prepare(self, action: CommandAction, ctx: ActionContext) -> PreparedCommand:
        cwd = os.path.normpath(os.path.join(ctx.base_dir, action.cwd)) if action.cwd else ctx.base_dir
        identity = _identity(action)
        if action.shell:
            assert action.command is not None
            return PreparedCommand(("/bin/sh", "-c", action.command), "/bin/sh", cwd, action.timeout, tuple(action.env), action.command, **identity)
        assert action.argv
        try:
            program = resolve_executable(action.argv[0], ctx.base_dir, self.environ.get("PATH", os.defpath))
        except OSError as e:
            raise ActionRefused(str(e)) from None
        argv = render_argv(action.argv, ctx)
        return PreparedCommand(tuple(argv), program, cwd, action.timeout, tuple(action.env), **identity)

    async def execute(self, prepared: PreparedCommand, *, run_id: int, ctx: ActionContext, clock: Clock) -> ActionResult:
        env, secrets = build_env(prepared.env_allow, ctx, run_id, self.environ)
        if prepared.shell_command is not None:
            log.warning("remediation %s runs a shell command (shell: true): %s", ctx.remediation, prepared.shell_command)
        argv = (prepared.program, *prepared.argv[1:])
        return await run_process(
            argv, env=env, cwd=prepared.cwd, timeout=prepared.timeout, clock=clock,
            output_cap=self.output_cap, kill_grace=self.kill_grace, secrets=secrets,
            user=prepared.user, group=prepared.group,
        )


def _identity(action: CommandAction) -> dict[str, str | None]:
    """`user`/`group` to run as: only a root daemon can switch, so anything else is refused, never ignored."""
    if action.user is None and action.group is None:
        return {}
    if os.geteuid() != 0:
        raise ActionRefused(f"cannot run as user {action.user or '-'} / group {action.group or '-'}: the daemon is not running as root")
    import grp
    import pwd

    try:
        if action.user is not None:
            pwd.getpwnam(action.user)
        if action.group is not None:
            grp.getgrnam(action.group)
    except KeyError as e:
        raise ActionRefused(f"cannot run as {e.args[0]}") from None
    return {"user": action.user, "group": action.group}


class _Tail:
    """The last `cap` bytes of a stream, and how much came before them."""

    def __init__(self, cap: int, slack: int = 0) -> None:
        self.cap = cap
        self.keep = cap + slack       # slack keeps whole secrets at the cut for redaction
        self.buf = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.buf += chunk
        if len(self.buf) > self.keep:
            del self.buf[: len(self.buf) - self.keep]

    def text(self, secrets: Sequence[str]) -> str:
        text = redact(bytes(self.buf).decode("utf-8", "replace"), secrets)
        omitted = self.total - len(self.buf)
        if len(text) > self.cap:
            omitted += len(text) - self.cap
            text = text[-self.cap:]
        if omitted > 0:
            text = f"[... {omitted} bytes omitted ...]\n" + text
        return text


class _ActionProtocol(asyncio.SubprocessProtocol):
    """Feeds output into the tail and tells when the program exited.

    We watch the exit itself (not `Process.wait()`, which also waits for the
    pipe to close: a leftover grandchild holding it would hang us).
    """

    def __init__(self, tail: _Tail) -> None:
        self.tail = tail
        self.exited = asyncio.Event()
        self.output_closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.tail.add(data if isinstance(data, bytes) else data.encode())

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.output_closed.set()

    def process_exited(self) -> None:
        self.exited.set()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _kill_group(pgid: int, protocol: _ActionProtocol, grace: float) -> None:
    """SIGTERM the whole group, give it `grace` seconds, SIGKILL what is left, wait for the leader's exit."""
    if grace > 0:
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(protocol.exited.wait(), grace)
    if _group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)
    await protocol.exited.wait()


async def _kill_spawned(spawn: asyncio.Future) -> None:
    """We were cancelled while starting: let the start finish, then kill whatever it started."""
    try:
        transport, protocol = await spawn
    except Exception:
        return
    try:
        await _kill_group(transport.get_pid(), protocol, 0)
    finally:
        transport.close()


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    timeout: float,
    clock: Clock,
    output_cap: int = OUTPUT_CAP,
    kill_grace: float = KILL_GRACE,
    secrets: Sequence[str] = (),
    user: str | None = None,
    group: str | None = None,
) -> ActionResult:
    """Run argv in a new session; never raises for a failing program (cancellation kills it and propagates).

    `user`/`group` switch identity in the child (Popen's user=/group=, no preexec_fn);
    a user without a group runs with that user's primary group and no supplementary groups.
    """
    started = clock.now()
    identity: dict[str, Any] = {}
    if user is not None:
        import pwd

        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            return ActionResult(None, "", False, started, clock.now(), error=f"cannot start {argv[0]}: no such user {user!r}")
        identity = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    if group is not None:
        identity["group"] = group
    tail = _Tail(output_cap, slack=max((len(s.encode()) for s in secrets), default=0))
    loop = asyncio.get_running_loop()
    spawn = asyncio.ensure_future(loop.subprocess_exec(
        lambda: _ActionProtocol(tail),
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
        **identity,
    ))
    try:
        # Shielded: asyncio's own clean-up of a spawn cancelled half-way kills only the
        # leader and then waits for the pipe, which a grandchild may hold for ever.
        transport, protocol = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        await _kill_spawned(spawn)
        raise
    except (OSError, ValueError, KeyError, subprocess.SubprocessError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        return ActionResult(None, "", False, started, clock.now(), error=f"cannot start {argv[0]}: {reason}")
    pgid = transport.get_pid()  # start_new_session: the leader's pid is the group id
    timed_out = False
    try:
        try:
            await asyncio.wait_for(protocol.exited.wait(), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            await _kill_group(pgid, protocol, kill_grace)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(protocol.output_closed.wait(), DRAIN_AFTER_EXIT)
    except asyncio.CancelledError:
        # shutdown gave up waiting on us: nothing of the action may outlive that decision
        await asyncio.shield(_kill_group(pgid, protocol, 0))
        raise
    finally:
        transport.close()
    ended = clock.now()
    output = tail.text(secrets)
    code = transport.get_returncode()
    if timed_out:
        return ActionResult(code, output, True, started, ended, error=f"timed out after {timeout:g}s (process group killed)")
    return ActionResult(code, output, False, started, ended)
