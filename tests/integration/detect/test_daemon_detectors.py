"""Detectors inside the real daemon (in this process, loopback, port 0): scores written and queryable,
GET /api/v1/detectors, reload via POST /-/reload, models persisted at stop and continued by the next daemon."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from watchdog.app import Daemon


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


DETECTORS = """\
detectors:
  - name: tcp-latency
    input: probe_duration_seconds{target="self"}
    algorithm: ewma
    params: {min_points: 3}
    interval: 100ms
    labels: {team: test}
"""


async def test_daemon_runs_detectors_serves_them_reloads_and_persists(tmp_path):
    (tmp_path / "detectors.yml").write_text(DETECTORS)
    (tmp_path / "token").write_text("s3cret\n")
    (tmp_path / "config.yaml").write_text("""\
global: {evaluation_interval: 100ms}
storage: {path: ./watchdog.db}
api: {token_file: token}
targets:
  - {name: self, type: tcp, address: "127.0.0.1:9", interval: 100ms, timeout: 100ms}
detector_files: [detectors.yml]
""")
    daemon = Daemon(str(tmp_path / "config.yaml"), listen="127.0.0.1:0")
    task = asyncio.create_task(daemon.run())
    try:
        for _ in range(500):
            if daemon.api_port and daemon.ready:
                break
            assert not task.done(), "daemon stopped during start"
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{daemon.api_port}"
        found = None
        for _ in range(100):
            body = await asyncio.to_thread(get_json, base + "/api/v1/detectors")
            found = {d["name"]: d for d in body["data"]["detectors"]}.get("tcp-latency")
            if found and found["series"] and found["series"][0]["warm"]:
                break
            await asyncio.sleep(0.05)
        assert found is not None and found["health"] == "ok", found
        assert found["series"][0]["labels"]["target"] == "self" and found["series"][0]["warm"]
        q = await asyncio.to_thread(get_json, base + '/api/v1/query?query=anomaly_score{detector="tcp-latency"}')
        result = q["data"]["result"]
        assert len(result) == 1 and result[0]["metric"]["team"] == "test"
        assert 0.0 <= float(result[0]["value"][1]) <= 1.0

        (tmp_path / "detectors.yml").write_text("detectors: []\n")
        req = urllib.request.Request(base + "/-/reload", method="POST", headers={"Authorization": "Bearer s3cret"})
        await asyncio.to_thread(urllib.request.urlopen, req, None, 5)
        body = await asyncio.to_thread(get_json, base + "/api/v1/detectors")
        assert body["data"]["detectors"] == []
        (tmp_path / "detectors.yml").write_text(DETECTORS)
        await asyncio.to_thread(urllib.request.urlopen, req, None, 5)
        await asyncio.sleep(0.5)
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 15) == 0

    from watchdog.state.sqlite import SqliteStore

    store = SqliteStore(str(tmp_path / "watchdog.db"))
    await store.open()
    try:
        index = json.loads(await store.kv_get("detector:tcp-latency:index"))
        assert len(index["series"]) == 1          # the model was saved at stop
        saved = json.loads(await store.kv_get(f"detector:tcp-latency:{index['series'][0]}"))
    finally:
        await store.close()

    # a second daemon on the same state continues the saved model instead of starting a new one
    daemon = Daemon(str(tmp_path / "config.yaml"), listen="127.0.0.1:0")
    task = asyncio.create_task(daemon.run())
    try:
        model = None
        for _ in range(500):
            runner = daemon.detector_runner
            st = runner.detectors.get("tcp-latency") if runner is not None else None
            if st is not None and st.models:
                model = next(iter(st.models.values()))
                break
            assert not task.done(), "daemon stopped during start"
            await asyncio.sleep(0.02)
        assert model is not None
        assert model.first_seen == saved["first_seen"]                     # not a new series
        assert model.detector.state()["n"] > saved["state"]["n"]           # learning went on from the saved count
        assert model.detector.warm                                         # no second warm-up
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(task, 15) == 0
