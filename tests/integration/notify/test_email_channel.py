"""Email notifier against a real aiosmtpd server: STARTTLS, implicit TLS, AUTH, the mail as received."""

from __future__ import annotations

import pytest

from watchdog.notify.base import PermanentError, RetryableError
from watchdog.notify.email import EmailNotifier
from watchdog.testing.fakeclock import FakeClock
from watchdog.testing.smtp_server import SmtpServer, self_signed_cert

from notify_channel_helpers import T0, alert, notice, receiver_cfg

PASSWORD = "s3cret-pa55word"


@pytest.fixture
def cert(tmp_path):
    return self_signed_cert(tmp_path)


def _notifier(server, cert, **extra):
    entry = {"to": "oncall@example.com, lead@example.com", "from": "watchdog@example.com", "smarthost": server.smarthost,
             "auth_username": "watchdog", "auth_password": PASSWORD, "tls_config": {"ca_file": cert[0]},
             "send_resolved": True, **extra}
    cfg = receiver_cfg(email_configs=[entry]).email_configs[0]
    return EmailNotifier(cfg, receiver="oncall", clock=FakeClock(T0))


async def test_starttls_auth_multipart_and_threading(cert):
    async with SmtpServer(cert=cert, users={"watchdog": PASSWORD}) as server:
        n = _notifier(server, cert, headers={"X-Team": "{{ .CommonLabels.team }}"})
        await n.send(notice(alert(team="web"), alert(instance="demo:81", team="web")))
        await n.send(notice(alert(status="resolved", end=T0 + 300, team="web")))
    first, second = server.mails
    assert first.tls and first.auth_user == "watchdog"
    assert sorted(first.rcpt_tos) == ["lead@example.com", "oncall@example.com"]
    assert first.message["Subject"] == "[FIRING:2] DemoDown (critical web)"
    assert second.message["Subject"].startswith("[RESOLVED] DemoDown")
    assert first.message["X-Team"] == "web"
    text = first.message.get_body(("plain",)).get_content()
    html = first.message.get_body(("html",)).get_content()
    assert "demo is down" in text and "instance=demo:81" in text and "https://runbooks.example/demo" in text
    assert "<h2" in html and "demo:81" in html
    # both notices of the group sit in one thread
    assert first.message["References"] == second.message["References"] == first.message["In-Reply-To"]
    assert first.message["Message-ID"] != second.message["Message-ID"]
    assert "fired 2023-11-14 22:13:20 UTC, resolved 2023-11-14 22:18:20 UTC" in second.message.get_body(("plain",)).get_content()


async def test_implicit_tls(cert):
    async with SmtpServer(cert=cert, implicit_tls=True, users={"watchdog": PASSWORD}) as server:
        n = _notifier(server, cert, force_implicit_tls=True)
        await n.send(notice())
    assert len(server.mails) == 1 and server.mails[0].auth_user == "watchdog"


async def test_wrong_password_is_permanent_and_not_echoed(cert):
    async with SmtpServer(cert=cert, users={"watchdog": "other"}) as server:
        n = _notifier(server, cert)
        with pytest.raises(PermanentError) as err:
            await n.send(notice())
    assert PASSWORD not in str(err.value) and server.mails == [] and server.auth_failures >= 1


async def test_temporary_and_permanent_smtp_answers(cert):
    async with SmtpServer(cert=cert, users={"watchdog": PASSWORD}) as server:
        n = _notifier(server, cert)
        server.fail_next(1, "451 4.3.0 try again later")
        with pytest.raises(RetryableError):
            await n.send(notice())
        server.fail_next(1, "554 5.7.1 rejected")
        with pytest.raises(PermanentError):
            await n.send(notice())
        await n.send(notice())
    assert len(server.mails) == 1


async def test_require_tls_without_starttls_offered_retries(cert):
    async with SmtpServer(cert=None) as server:   # plain server: no STARTTLS, no AUTH
        entry = {"to": "a@example.com", "from": "w@example.com", "smarthost": server.smarthost}
        n = EmailNotifier(receiver_cfg(email_configs=[entry]).email_configs[0], receiver="oncall", clock=FakeClock(T0))
        with pytest.raises(RetryableError):
            await n.send(notice())
        plain = EmailNotifier(receiver_cfg(email_configs=[{**entry, "require_tls": False}]).email_configs[0], receiver="oncall", clock=FakeClock(T0))
        await plain.send(notice())
    assert len(server.mails) == 1 and not server.mails[0].tls


async def test_unreachable_smarthost_retries():
    entry = {"to": "a@example.com", "from": "w@example.com", "smarthost": "127.0.0.1:1", "require_tls": False}
    n = EmailNotifier(receiver_cfg(email_configs=[entry]).email_configs[0], receiver="oncall", clock=FakeClock(T0))
    with pytest.raises(RetryableError):
        await n.send(notice())


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_auth_plain_and_login_over_starttls(cert, mechanism):
    async with SmtpServer(cert=cert, users={"watchdog": PASSWORD}, auth_mechanisms=(mechanism,)) as server:
        n = _notifier(server, cert)
        await n.send(notice())
    assert server.auth_log == [(mechanism, "watchdog", True)]
    (mail,) = server.mails
    assert mail.tls and mail.auth_user == "watchdog"
    assert mail.mail_from == "watchdog@example.com" and mail.message["From"] == "watchdog@example.com"
    assert mail.message["To"] == "oncall@example.com, lead@example.com"
    assert mail.message["Auto-Submitted"] == "auto-generated" and mail.message["Date"]


async def test_a_group_stays_in_one_thread_across_notifiers_and_other_groups_do_not(cert):
    """The thread root comes from the group's dedup key: a restarted daemon (new notifier) threads on."""
    async with SmtpServer(cert=cert, users={"watchdog": PASSWORD}) as server:
        await _notifier(server, cert).send(notice())
        await _notifier(server, cert).send(notice(alert(status="resolved", end=T0 + 60)))
        await _notifier(server, cert).send(notice(alert("DiskFull"), group='{}:{alertname="DiskFull"}'))
    a, b, other = (m.message for m in server.mails)
    assert a["References"] == b["In-Reply-To"] == b["References"]
    assert other["References"] != a["References"]
    assert len({a["Message-ID"], b["Message-ID"], other["Message-ID"]}) == 3
