"""Deploy files cannot be exercised here (no Docker daemon, no systemd as init): check them at their boundary."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "watchdog-daemon.service"
DOCKERFILE = ROOT / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_essentials():
    ins = _instructions(DOCKERFILE.read_text())
    froms = [arg for word, arg in ins if word == "FROM"]
    assert froms == ["python:3.11-slim"], "pinned python:3.11-slim base, single stage"
    users = [arg for word, arg in ins if word == "USER"]
    assert users, "the image must switch to a non-root user"
    assert users[-1].split(":")[0] not in ("root", "0")
    # The last USER must come after every RUN (nothing runs as root at the end).
    last_user = max(i for i, (w, _) in enumerate(ins) if w == "USER")
    assert all(i < last_user for i, (w, _) in enumerate(ins) if w == "RUN")
    health = [arg for word, arg in ins if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0] and "curl" not in health[0]
    assert "urllib" in health[0]
    for word, arg in ins:
        if word == "ADD":
            assert not re.search(r"https?://", arg), "no ADD of URLs"
    assert not any(w == "ADD" for w, _ in ins), "COPY, not ADD, for local files"
    assert ("EXPOSE", "9797") in ins
    assert any(w == "VOLUME" for w, _ in ins)
    runs = " ".join(arg for w, arg in ins if w == "RUN")
    assert "pip install" in runs and "--no-cache-dir" in runs
    assert "apt-get" not in runs
    assert any(w == "CMD" for w, _ in ins) and any(w == "ENTRYPOINT" for w, _ in ins)


def test_dockerfile_copies_exist_and_dockerignore_keeps_them():
    ins = _instructions(DOCKERFILE.read_text())
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")}
    for word, arg in ins:
        if word != "COPY":
            continue
        parts = [p for p in arg.split() if not p.startswith("--")]
        for src in parts[:-1]:
            assert (ROOT / src).exists(), f"COPY source {src} is missing"
            assert src not in ignored, f"COPY source {src} is excluded by .dockerignore"
    assert {".git", ".venv", "data", "tests"} <= ignored


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_required_keys():
    unit = _unit()
    service = unit["Service"]
    assert UNIT.name != "watchdog.service"
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "30s"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service.get("DynamicUser") == "yes" or service.get("User")
    data_dir = "/var/lib/watchdog-daemon"
    assert data_dir in service["ReadWritePaths"].split()
    assert " run -c " in service["ExecStart"] and data_dir in service["ExecStart"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    # verify checks that ExecStart exists: point it at the watchdog script of this environment.
    script = Path(sys.executable).with_name("watchdog")
    if not script.exists():
        pytest.skip(f"{script} not installed (pip install -e . provides it)")
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/watchdog", str(script)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
