"""Alertmanager template files (`templates:`) end to end: loaded by load_config, used by
Slack, email and PagerDuty receivers, checked on what the local test servers receive."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from watchdog.config.loader import load_config
from watchdog.notify import templates
from watchdog.notify.email import EmailNotifier
from watchdog.notify.pagerduty import PagerdutyNotifier
from watchdog.notify.slack import SlackNotifier
from watchdog.testing.fakeclock import FakeClock
from watchdog.testing.pagerduty_server import PagerdutyServer
from watchdog.testing.slack_server import SlackServer
from watchdog.testing.smtp_server import SmtpServer

from notify_channel_helpers import T0, alert, notice

TEMPLATE = Path(__file__).parent / "am_templates" / "community.tmpl"
KEY = "R0UTINGKEY0123456789abcdef012345"


def _load(tmp_path: Path, slack_url: str, smarthost: str, pd_url: str):
    (tmp_path / "tmpl").mkdir()
    shutil.copy(TEMPLATE, tmp_path / "tmpl" / "community.tmpl")
    (tmp_path / "am.yml").write_text(f"""
route: {{receiver: ops}}
templates: ['tmpl/*.tmpl']
receivers:
  - name: ops
    slack_configs:
      - api_url: {slack_url}
        title: '{{{{ template "custom.title" . }}}}'
        text: '{{{{ template "custom.slack.text" . }}}}'
        send_resolved: true
    email_configs:
      - to: oncall@example.com
        from: watchdog@example.com
        smarthost: {smarthost}
        require_tls: false
        headers: {{Subject: '{{{{ template "custom.email.subject" . }}}}'}}
        html: '{{{{ template "custom.email.html" . }}}}'
        text: '{{{{ template "email.default.text" . }}}} others={{{{ template "custom.others" . }}}}'
    pagerduty_configs:
      - routing_key: {KEY}
        url: {pd_url}
        description: '{{{{ template "custom.pd.description" . }}}}'
""")
    loaded = load_config(_write_config(tmp_path))
    return loaded, loaded.alerting.receiver("ops")


def _write_config(tmp_path: Path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text("alerting_file: am.yml\n")
    return str(path)


async def test_template_file_drives_slack_email_and_pagerduty(tmp_path):
    async with SlackServer() as slack, SmtpServer(cert=None) as smtp, PagerdutyServer() as pd:
        loaded, receiver = _load(tmp_path, slack.webhook_url(), smtp.smarthost, pd.url)
        assert loaded.template_file_paths == [str(tmp_path / "tmpl" / "community.tmpl")]
        assert not [w for w in loaded.warnings if "template" in w.message]
        firing = notice(alert(team="web"), alert(instance="demo:81", team="web"))
        clock = FakeClock(T0)
        tset = loaded.notification_templates    # handed on explicitly: loading installs nothing
        for notifier in (SlackNotifier(receiver.slack_configs[0], receiver="ops", clock=clock, templates=tset),
                         EmailNotifier(receiver.email_configs[0], receiver="ops", clock=clock, templates=tset),
                         PagerdutyNotifier(receiver.pagerduty_configs[0], receiver="ops", clock=clock, templates=tset)):
            try:
                await notifier.send(firing)
            finally:
                await notifier.close()
        slack_notifier = SlackNotifier(receiver.slack_configs[0], receiver="ops", clock=clock, templates=tset)
        try:
            await slack_notifier.send(notice(alert(status="resolved", end=T0 + 60)))
        finally:
            await slack_notifier.close()

    first, resolved = slack.received
    assert first.body["text"] == "[FIRING:2] DemoDown"
    section = " ".join(b.get("text", {}).get("text", "") for b in first.body["attachments"][0]["blocks"] if b["type"] == "section")
    assert "*Summary:* demo is down" in section
    assert "• demo:81 <https://runbooks.example/demo|runbook> `instance=demo:81` `severity=critical` `team=web`" in section
    assert resolved.body["text"] == "[RESOLVED] DemoDown"
    assert "✔ demo:80 resolved" in str(resolved.body)

    (mail,) = smtp.mails
    assert mail.message["Subject"] == "[FIRING:2] DemoDown (critical web)"   # __subject == our default subject
    html = mail.message.get_body(("html",)).get_content()
    assert "<h1>[FIRING:2] DemoDown</h1><ul><li>demo:80: demo is down</li><li>demo:81: demo is down</li></ul>" in html
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith(templates.plain_text(firing)) and "others=critical,web" in text

    (event,) = pd.events
    assert event["payload"]["summary"] == "[FIRING:2] DemoDown: Demo Is Down"


def test_default_names_match_our_defaults():
    n = notice(alert(team="web"), alert(instance="demo:81", team="web"))
    tset = templates.DEFAULT_TEMPLATES
    for name in ("__subject", "slack.default.title", "email.default.subject", "pagerduty.default.description"):
        assert tset.render('{{ template "%s" . }}' % name, templates.notice_data(n)) == templates.subject(n)
    assert tset.render('{{ template "email.default.text" . }}', templates.notice_data(n)) == templates.plain_text(n)


def test_broken_template_file_is_a_located_config_error(tmp_path):
    from watchdog.config.errors import ConfigErrors

    (tmp_path / "t.tmpl").write_text('{{ define "a" }}ok{{ end }}\n{{ define "b" }}{{ .X | nosuchfunc }}{{ end }}\n')
    (tmp_path / "am.yml").write_text("route: {receiver: ops}\nreceivers: [{name: ops}]\ntemplates: ['*.tmpl']\n")
    with pytest.raises(ConfigErrors) as info:
        load_config(_write_config(tmp_path))
    (err,) = info.value.errors
    assert (err.path, err.line, err.col) == (str(tmp_path / "t.tmpl"), 2, 25)
    assert 'function "nosuchfunc" not defined' in err.message


AMTOOL = shutil.which("amtool")
ORACLE_CASES = [
    '{{ template "custom.title" . }}',
    '{{ template "custom.others" . }}',
    '{{ template "custom.email.html" . }}',
    '{{ range .Alerts }}{{ .Labels.SortedPairs }}|{{ .Annotations.Names }}|{{ end }}',
    '{{ define "x" }}{{ len .Alerts }} {{ index .GroupLabels "grouplabelkey1" }}{{ end }}{{ template "x" . }}',
    '{{ block "y" .CommonLabels }}{{ range $k, $v := . }}{{ $k }}={{ $v | toUpper }};{{ end }}{{ end }}',
    '{{ .CommonAnnotations.Values | join ", " }} {{ reReplaceAll "value(\\\\d)" "v$1" "value1 value2" }} {{ printf "%05.1f|%q" 3.14159 .Receiver }}',
]


def _amtool_default_data():
    """amtool's built-in example data (`amtool template render` without --template.data)."""
    from watchdog.promql.template_format import KV, AlertList

    common = {"commonlabelkey1": "commonlabelvalue1", "commonlabelkey2": "commonlabelvalue2"}
    common_ann = {"commonannotationkey1": "commonannotationvalue1", "commonannotationkey2": "commonannotationvalue2"}

    def one(labels, annotations, fp):
        return {"Status": "alertstatus", "Labels": KV({**common, **labels}), "Annotations": KV({**common_ann, **annotations}),
                "GeneratorURL": "https://generatorurl.com", "Fingerprint": fp}

    return {"Receiver": "receiver", "Status": "alertstatus", "ExternalURL": "https://example.com",
            "Alerts": AlertList([one({"instance": "foo.bar:1234", "label1": "value1", "label2": "value2"},
                                     {"annotation1": "value1", "annotation2": "value2"}, "fingerprint1"),
                                 one({"baz": "qux", "foo": "bar"}, {"aaa": "bbb", "ccc": "ddd"}, "fingerprint2")]),
            "GroupLabels": KV({"grouplabelkey1": "grouplabelvalue1", "grouplabelkey2": "grouplabelvalue2"}),
            "CommonLabels": KV(common), "CommonAnnotations": KV(common_ann)}


@pytest.mark.skipif(AMTOOL is None, reason="amtool (Alertmanager) is not installed")
@pytest.mark.parametrize("text", ORACLE_CASES)
def test_rendering_matches_amtool(text, tmp_path):
    # amtool 0.25 does not load Alertmanager's default.tmpl for `template render`: give it ours for __subject
    path = tmp_path / "community.tmpl"
    path.write_text(TEMPLATE.read_text().replace('{{ template "__subject" . }}', "SUBJ"))
    theirs = subprocess.run([AMTOOL, "template", "render", f"--template.glob={path}", f"--template.text={text}"],
                            capture_output=True, text=True, timeout=30)
    assert theirs.returncode == 0, theirs.stderr
    ours = templates.template_set_from_files([(str(path), path.read_text())]).render(text, _amtool_default_data())
    assert ours == theirs.stdout.removesuffix("\n") or ours == theirs.stdout


def test_fields_calling_undefined_templates_warn_at_their_location(tmp_path):
    (tmp_path / "t.tmpl").write_text('{{ define "known" }}{{ template "inner.missing" . }}{{ end }}\n')
    (tmp_path / "am.yml").write_text(
        "route: {receiver: ops}\n"
        "templates: ['*.tmpl']\n"
        "receivers:\n"
        "  - name: ops\n"
        "    slack_configs:\n"
        "      - api_url: http://127.0.0.1:9/hook\n"
        "        title: '{{ template \"slack.default.title\" . }}'\n"
        "        text: '{{ template \"typo.text\" . }}'\n"
        "        pretext: '{{ template \"known\" . }}'\n")
    loaded = load_config(_write_config(tmp_path))
    assert [(w.line, w.field, w.message) for w in loaded.warnings] == [
        (8, "receivers[0].slack_configs[0].text", 'template "typo.text" is not defined in the templates files (the default text will be sent)'),
        (9, "receivers[0].slack_configs[0].pretext", 'template "inner.missing" is not defined in the templates files (the default text will be sent)'),
    ]
