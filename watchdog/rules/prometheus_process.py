"""A real Prometheus server on loopback, for the remote-datasource test and the rules benchmark.

Starts the Debian `prometheus` binary with a scrape config for the given
targets, its own storage directory and a free loopback port; `stop()` ends
exactly the process it started.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Sequence

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusProcess:
    def __init__(
        self, workdir: Path, targets: Sequence[str], *, scrape_interval: str = "1s",
        rule_files: Sequence[str] = (), evaluation_interval: str = "1s", binary: str | None = None,
    ) -> None:
        self.binary = binary or shutil.which("prometheus") or "prometheus"
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": "synthetic", "static_configs": [{"targets": list(targets)}]}],
        }
        self.config_path = self.workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "prometheus.log"

    def start(self) -> None:
        with open(self.log_path, "wb") as log:   # closed here even when Popen fails; the child keeps its copy
            self.proc = subprocess.Popen(
                [self.binary, f"--config.file={self.config_path}", f"--web.listen-address=127.0.0.1:{self.port}",
                 f"--storage.tsdb.path={self.workdir / 'data'}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def query(self, expr: str) -> list:
        """Blocking instant query (for setup code): the result list, [] on any failure."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.load(resp)["data"]["result"]
        except (OSError, ValueError, KeyError):
            return []

    async def wait_for(self, expr: str, timeout: float = 60.0, poll: float = 0.25) -> list:
        """Poll until `expr` gives a non-empty result (the first scrapes landed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
            result = await asyncio.to_thread(self.query, expr)
            if result:
                return result
            await asyncio.sleep(poll)
        raise TimeoutError(f"prometheus gave no result for {expr!r} within {timeout}s")
