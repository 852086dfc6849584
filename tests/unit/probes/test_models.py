"""Config models of every probe type: defaults, validation messages, derived labels."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from watchdog.probes.jsonpath import MISSING, lookup, parse_json_path
from watchdog.probes.registry import TARGET_MODELS


def make(kind: str, **kw):
    return TARGET_MODELS[kind].model_validate({"name": "t1", "type": kind, **kw})


def errors(kind: str, **kw) -> list[str]:
    with pytest.raises(ValidationError) as e:
        make(kind, **kw)
    return [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.value.errors()]


def test_registry_has_every_contract_type():
    assert set(TARGET_MODELS) == {"http", "tcp", "command", "process", "scrape"}


def test_http_defaults_and_labels():
    t = make("http", url="http://127.0.0.1:9798/health", interval="5s", labels={"service": "demo"})
    assert t.interval == 5.0 and t.timeout is None
    assert t.effective_timeout() == 5.0
    assert t.effective_timeout(default_interval=60) == 5.0
    assert make("http", url="http://x/").effective_timeout(default_interval=60) == 10.0
    assert t.valid_status_codes == ["2xx"] and t.max_body_bytes == 1 << 20
    assert t.follow_redirects and not t.fresh_connection
    assert t.target_labels() == {"service": "demo", "target": "t1", "job": "t1", "instance": "http://127.0.0.1:9798/health"}
    assert make("http", url="http://x/", job="web").job_name == "web"


def test_body_conditions_accept_a_single_string():
    t = make("http", url="http://x/", body_contains="ok", body_regex="^up")
    assert t.body_contains == ["ok"] and t.body_regex == ["^up"]


@pytest.mark.parametrize(
    "kw, expected",
    [
        ({"name": "", "url": "http://x/"}, "name: Value error, must not be empty"),
        ({"name": "a b", "url": "http://x/"}, "name: Value error, may contain only letters, digits and _ . : -"),
        ({"url": "ftp://x/"}, "url: Value error, must be an http:// or https:// URL"),
        ({"url": "http://x/", "labels": {"0bad": "v"}}, "labels: Value error, invalid label name '0bad'"),
        ({"url": "http://x/", "labels": {"instance": "v"}}, "labels: Value error, label 'instance' is set by the probe (use the `job` field for job)"),
        ({"url": "http://x/", "labels": {"__x": "v"}}, "labels: Value error, label name '__x' is reserved (names starting with __)"),
        ({"url": "http://x/", "interval": "1s", "timeout": "2s"}, ": Value error, timeout must not be greater than interval"),
        ({"url": "http://x/", "interval": "soon"}, "interval: Value error, invalid duration 'soon' (use e.g. 500ms, 30s, 5m, 1h30m, 7d)"),
        ({"url": "http://x/", "valid_status_codes": ["6xx"]}, "valid_status_codes: Value error, invalid status code '6xx' (use e.g. 200, \"2xx\" or \"200-299\")"),
        ({"url": "http://x/", "method": "FETCH"}, "method: Value error, must be one of DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
        ({"url": "http://x/", "body_regex": "("}, "body_regex.0: Value error, invalid regex: missing ), unterminated subpattern at position 0"),
        ({"url": "http://x/", "json_path": [{"path": "status"}]}, "json_path.0.path: Value error, JSON path must start with $"),
        ({"url": "http://x/", "bogus": 1}, "bogus: Extra inputs are not permitted"),
    ],
)
def test_http_validation_messages(kw, expected):
    kw.setdefault("name", "t1")
    with pytest.raises(ValidationError) as e:
        TARGET_MODELS["http"].model_validate({"type": "http", **kw})
    got = [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.value.errors()]
    assert expected in got


def test_header_values_are_secret():
    t = make("http", url="http://x/", headers={"Authorization": "Bearer s3cret"})
    assert "s3cret" not in repr(t) and "s3cret" not in str(t.model_dump())
    assert t.headers["Authorization"].get_secret_value() == "Bearer s3cret"


def test_tcp_address_and_instance():
    assert make("tcp", address="db.local:5432").instance == "db.local:5432"
    assert make("tcp", address="[::1]:22", tls={}).tls is not None
    assert errors("tcp", address="db.local") == ["address: Value error, must be host:port"]
    assert errors("tcp", address="h:70000") == ["address: Value error, port must be 1-65535"]


def test_command_paths_resolve_against_base_dir():
    model = TARGET_MODELS["command"]
    t = model.model_validate({"name": "c", "type": "command", "argv": ["checks/x.sh", "-w", "1"], "cwd": "work"}, context={"base_dir": "/etc/wd"})
    assert t.argv == ["/etc/wd/checks/x.sh", "-w", "1"] and t.cwd == "/etc/wd/work"
    bare = model.model_validate({"name": "c", "type": "command", "argv": ["check_load"]}, context={"base_dir": "/etc/wd"})
    assert bare.argv == ["check_load"] and bare.instance == "c" and bare.env == ["PATH"]
    assert errors("command", argv=[]) == ["argv: List should have at least 1 item after validation, not 0"]


def test_process_needs_exactly_one_selector():
    assert make("process", cmdline="nginx: master").instance == "t1"
    assert errors("process") == [": Value error, set exactly one of pidfile, process_name, cmdline"]
    assert errors("process", pidfile="/run/x.pid", process_name="x") == [": Value error, set exactly one of pidfile, process_name, cmdline"]


def test_scrape_instance_is_host_port():
    assert make("scrape", url="http://127.0.0.1:9100/metrics").instance == "127.0.0.1:9100"
    assert make("scrape", url="https://node/metrics").instance == "node:443"
    t = make("scrape", url="http://h/metrics")
    assert t.max_body_bytes == 10 << 20 and t.sample_limit == 0 and t.honor_labels is False


def test_json_path_parse_and_lookup():
    steps = parse_json_path('$.items[1]["a b"].c')
    assert steps == ("items", 1, "a b", "c")
    doc = {"items": [{}, {"a b": {"c": 5}}]}
    assert lookup(doc, steps) == 5
    assert lookup(doc, parse_json_path("$.items[2]")) is MISSING
    assert lookup(doc, parse_json_path("$.items[-1].x")) is MISSING
    assert lookup(doc, parse_json_path("$")) == doc
    with pytest.raises(ValueError):
        parse_json_path("$.items[")
