"""Remediation file loading: valid specs, and every error located as path:line:col: field: message."""

from __future__ import annotations

import stat
import textwrap
from pathlib import Path

import pytest

from watchdog.remediate.spec import RemediationSpec, load_remediation_files, resolve_executable

ROOT = Path(__file__).resolve().parents[3]


def write(dir: Path, name: str, text: str) -> str:
    path = dir / name
    path.write_text(textwrap.dedent(text).lstrip())
    return str(path)


@pytest.fixture
def rdir(tmp_path: Path) -> Path:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    fix = scripts / "fix.sh"
    fix.write_text("#!/bin/sh\nexit 0\n")
    fix.chmod(fix.stat().st_mode | stat.S_IXUSR)
    (scripts / "not-exec.sh").write_text("#!/bin/sh\n")
    return tmp_path


def errors_of(paths: list[str]) -> list[str]:
    specs, errors = load_remediation_files(paths)
    return [str(e) for e in errors]


def test_shipped_demo_file_is_valid():
    specs, errors = load_remediation_files([str(ROOT / "remediations" / "demo.yml")])
    assert errors == []
    (spec,) = specs
    assert spec.name == "restart-demo"
    assert spec.matches({"alertname": "DemoServiceDown", "target": "demo"})
    assert not spec.matches({"alertname": "Other"})
    assert spec.action.argv == ["scripts/restart-demo.sh", "--target={{ $labels.target }}"]
    assert spec.verify is not None and spec.verify.within == 30 and spec.verify.expr == 'probe_success{target="demo"} == 1'
    assert spec.guardrails.cooldown == 60 and spec.guardrails.max_attempts == 3 and spec.guardrails.window == 3600
    assert spec.base_dir == str(ROOT / "remediations")


def test_full_contract_shape_with_defaults(rdir):
    path = write(rdir, "r.yml", """
        remediations:
          - name: fix-web
            match: ['alertname="Down"', 'severity=~"crit|page"']
            action:
              type: command
              argv: [scripts/fix.sh, "--target={{ $labels.target }}", "{{ $annotations.summary }}"]
              timeout: 10s
              env: [PATH, HOME]
            verify: {expr: 'probe_success{target="web"} == 1', within: 1m}
            guardrails: {cooldown: 5m, max_attempts: 2, window: 2h, max_concurrent: 2, blast_radius: 5, breaker: {failures: 4, reset_after: 15m}}
            when_silenced: run
          - name: second
            match: ['alertname="Other"']
            action: {type: command, argv: [/bin/true]}
            dry_run: true
        """)
    specs, errors = load_remediation_files([path])
    assert errors == []
    first, second = specs
    assert first.action.timeout == 10 and first.action.env == ["PATH", "HOME"]
    assert first.verify.interval == 1.0 and first.verify.within == 60
    assert first.guardrails.breaker.failures == 4 and first.guardrails.breaker.reset_after == 900
    assert first.when_silenced == "run" and first.source == path
    assert first.matches({"alertname": "Down", "severity": "page"}) and not first.matches({"alertname": "Down", "severity": "info"})
    assert second.dry_run and second.guardrails.cooldown == 300 and second.guardrails.max_attempts == 3
    assert second.action.env == ["PATH", "HOME", "LANG", "TZ"]


CASES = [
    # (yaml body of one spec, expected error suffix after "path:")
    ("""
     - name: a
       match: ['alertname="x"', 'severity=~"(unclosed"']
       action: {type: command, argv: [scripts/fix.sh]}
     """, "3:28: remediations[0].match[1]: invalid regular expression"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh]}
       verify: {expr: 'up{job=', within: 10s}
     """, "5:12: remediations[0].verify.expr: invalid PromQL:"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh, "{{ $labels.x "]}
     """, "4:50: remediations[0].action.argv[1]: invalid template: template: template:1:1: unclosed action"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/missing.sh]}
     """, "4:34: remediations[0].action.argv[0]: program 'scripts/missing.sh' not found (looked for "),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/not-exec.sh]}
     """, "4:34: remediations[0].action.argv[0]: program 'scripts/not-exec.sh' is not executable ("),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [no-such-program-on-path-xyz]}
     """, "4:34: remediations[0].action.argv[0]: program 'no-such-program-on-path-xyz' not found on PATH"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh], retries: 3}
     """, "4:51: remediations[0].action.retries: unknown field"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: ftp, url: 'http://x'}
     """, "4:12: remediations[0].action.type: unknown action type 'ftp' (supported: command, http, systemd, docker)"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: http, url: 'file:///etc/passwd'}
     """, "4:24: remediations[0].action.url: url must start with http:// or https://"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: http, url: 'http://x/{{ $labels.x }}', body: {'{{ $labels.k }}': 1}}
     """, "4:57: remediations[0].action.body: body keys must be plain strings"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: systemd, unit: 'web;reboot.service'}
     """, "4:27: remediations[0].action.unit: invalid systemd unit name"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: systemd, unit: 'web.service', operation: kill}
     """, "4:48: remediations[0].action.operation: Input should be"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: docker, container: '../../images'}
     """, "4:26: remediations[0].action.container: invalid container name"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh], user: no-such-user-xyz}
     """, "4:51: remediations[0].action.user: no such user 'no-such-user-xyz'"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh]}
       requires_change: {within: 30m, same: [service], extra: 1}
     """, "5:51: remediations[0].requires_change.extra: unknown field"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, command: 'systemctl restart x'}
     """, "4:3: remediations[0].action: `command:` is a shell string: use argv (a list), or set shell: true explicitly"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [/bin/sh, -c, 'echo {{ $labels.x }}']}
     """, "4:3: remediations[0].action: argv runs a shell string (-c): use a script, or shell: true explicitly"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, shell: true, command: 'echo {{ $labels.x }}'}
     """, "4:3: remediations[0].action: a shell command takes no templates; read $WATCHDOG_ALERT_* from its environment"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: ["{{ $labels.prog }}"]}
     """, "4:3: remediations[0].action: argv[0] must be a fixed program path, without templates"),
    ("""
     - name: a
       match: []
       action: {type: command, argv: [scripts/fix.sh]}
     """, "3:3: remediations[0].match: List should have at least 1 item after validation, not 0"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh], timeout: 0s}
       guardrails: {cooldown: soon}
     """, "4:51: remediations[0].action.timeout: must be greater than 0"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh], env: ['BAD-NAME']}
     """, "4:57: remediations[0].action.env[0]: invalid environment variable name 'BAD-NAME'"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh]}
       when_silenced: maybe
     """, "5:3: remediations[0].when_silenced: Input should be 'skip' or 'run'"),
    ("""
     - name: a
       match: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh], cwd: nowhere}
     """, "4:51: remediations[0].action.cwd: directory 'nowhere' does not exist"),
    ("""
     - name: a
       mtach: ['alertname="x"']
       action: {type: command, argv: [scripts/fix.sh]}
     """, "3:3: remediations[0].mtach: unknown field"),
]


@pytest.mark.parametrize("body,expected", CASES, ids=[c[1].split(": ")[1] + "-" + str(i) for i, c in enumerate(CASES)])
def test_errors_are_located(rdir, body, expected):
    path = write(rdir, "bad.yml", "remediations:\n" + textwrap.indent(textwrap.dedent(body).lstrip(), ""))
    errors = errors_of([path])
    assert any(e.startswith(f"{path}:{expected}") for e in errors), errors


def test_a_bad_action_is_located_at_its_field_and_the_rest_is_still_checked(rdir):
    path = write(rdir, "bad-action.yml", """
        remediations:
          - name: rollback
            match: ['alertname=~"("']
            action: {type: docker, container: web, verb: restart}
        """)
    errors = errors_of([path])
    assert errors == [
        f"{path}:4:44: remediations[0].action.verb: unknown field",
        f"{path}:3:13: remediations[0].match[0]: invalid regular expression '(' in matcher for 'alertname': missing ), unterminated subpattern at position 1",
    ]


def test_every_action_type_and_the_issue_7_fields_load(rdir):
    path = write(rdir, "all.yml", """
        remediations:
          - name: rollback
            match: ['alertname="ErrorRate"']
            action:
              type: http
              url: 'http://deploy.local/api/services/{{ $labels.service }}/rollback'
              headers: {X-Api-Key: abc}
              body: {version: '{{ $change.previous_version }}', reason: 'alert {{ $labels.alertname }}', dry: false}
              expected_status: 202
            requires_change: {within: 30m, same: [service]}
            require_approval: true
            approval_timeout: 10m
          - name: unit
            match: ['alertname="A"']
            action: {type: systemd, unit: 'web@{{ $labels.instance }}.service', operation: reload}
          - name: box
            match: ['alertname="B"']
            action: {type: docker, container: '{{ $labels.container }}', operation: stop, stop_timeout: 3}
          - name: as-nobody
            match: ['alertname="C"']
            action: {type: command, argv: [scripts/fix.sh], user: nobody}
        """)
    specs, errors = load_remediation_files([path])
    assert [str(e) for e in errors] == []
    http, unit, box, nobody = specs
    assert http.action.expected_status == [202] and http.requires_change.within == 1800 and http.requires_change.same == ["service"]
    assert http.require_approval and http.approval_timeout == 600
    assert unit.action.operation == "reload" and box.action.stop_timeout == 3 and nobody.action.user == "nobody"


def test_all_errors_are_reported_and_good_specs_survive(rdir):
    path = write(rdir, "mixed.yml", """
        remediations:
          - name: good
            match: ['alertname="A"']
            action: {type: command, argv: [scripts/fix.sh]}
          - name: bad
            match: ['alertname=~"("']
            action: {type: command, argv: [scripts/missing.sh]}
            verify: {expr: 'sum(', within: 5s}
        """)
    specs, errors = load_remediation_files([path])
    assert [s.name for s in specs] == ["good"]
    fields = sorted(e.field for e in errors)
    assert fields == ["remediations[1].match[0]", "remediations[1].verify.expr"]


def test_duplicate_names_across_files(rdir):
    a = write(rdir, "a.yml", """
        remediations:
          - {name: same, match: ['alertname="A"'], action: {type: command, argv: [scripts/fix.sh]}}
        """)
    b = write(rdir, "b.yml", """
        remediations:
          - {name: other, match: ['alertname="B"'], action: {type: command, argv: [scripts/fix.sh]}}
          - {name: same, match: ['alertname="C"'], action: {type: command, argv: [scripts/fix.sh]}}
        """)
    specs, errors = load_remediation_files([a, b])
    assert [s.name for s in specs] == ["same", "other"]
    assert [str(e) for e in errors] == [f"{b}:3:6: remediations[1].name: duplicate remediation name 'same' (first defined at {a}:2:6)"]


def test_file_level_problems(rdir):
    missing = str(rdir / "nope.yml")
    syntax = write(rdir, "syntax.yml", "remediations: [\n")
    top = write(rdir, "top.yml", "remedations: []\n")
    errors = errors_of([missing, syntax, top])
    assert errors[0].startswith(f"{missing}:0:0: cannot read file")
    assert errors[1].startswith(f"{syntax}:2:1: YAML syntax error")
    assert errors[2] == f"{top}:1:1: remedations: unknown field"
    assert errors_of([write(rdir, "empty.yml", "")]) == []


def test_relative_and_bare_executables_resolve(rdir):
    assert resolve_executable("scripts/fix.sh", str(rdir)) == str(rdir / "scripts" / "fix.sh")
    assert resolve_executable("sh", str(rdir)).endswith("/sh")
    with pytest.raises(FileNotFoundError):
        resolve_executable("fix.sh", str(rdir), search_path="/nonexistent")


def test_located_keeps_matchers_and_binds_the_directory(rdir):
    spec = RemediationSpec.model_validate({"name": "x", "match": ['a="1"'], "action": {"type": "command", "argv": ["true"]}})
    bound = spec.located(str(rdir), "f.yml")
    assert bound.base_dir == str(rdir) and bound.source == "f.yml" and bound.matches({"a": "1"})
    assert spec.base_dir == "." and bound.name == spec.name
