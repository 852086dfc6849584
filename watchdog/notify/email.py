"""`email_configs`: multipart (text + HTML) mail through aiosmtplib.

- `smarthost` host:port; port 465 (or `force_implicit_tls: true`) is TLS from the first byte,
  otherwise STARTTLS, required when `require_tls` (Alertmanager's default) and refused as an
  error when the server does not offer it.
- AUTH (PLAIN/LOGIN/CRAM-MD5, as the server offers) when `auth_username` is set; the password
  never appears in errors.
- Subject as Alertmanager's (`[FIRING:2] ...` / `[RESOLVED] ...`); `headers` may override
  any header (values are templates).
- Threading: every notice of one group carries `References`/`In-Reply-To` naming the same
  root message id (derived from the group's dedup key), so mail clients keep a group's
  notices in one thread.
- SMTP 4xx answers and network errors retry; 5xx answers (bad recipient, auth failure) are
  permanent.
"""

from __future__ import annotations

import functools
import html
import logging
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

import aiosmtplib

from watchdog.clock import Clock
from watchdog.notify import templates
from watchdog.notify.base import Notice, PermanentError, RetryableError
from watchdog.notify.httpclient import secret_text, ssl_context
from watchdog.promql.template_set import TemplateSet

log = logging.getLogger("watchdog.notify")

DEFAULT_TIMEOUT = 30.0
MSGID_DOMAIN = "watchdog-daemon"


def thread_root_id(notice: Notice) -> str:
    return f"<group-{notice.dedup_key[:32]}@{MSGID_DOMAIN}>"


def html_body(notice: Notice) -> str:
    """A small, inline-styled HTML rendering of the default text."""
    color = "#d0021b" if notice.status == "firing" else "#2e7d32"
    parts = [f'<html><body style="font-family:sans-serif"><h2 style="color:{color}">{html.escape(templates.subject(notice))}</h2>']
    if notice.reason:
        parts.append(f"<p><b>Note:</b> {html.escape(notice.reason)}</p>")
    for title, alerts in (("Firing", notice.firing()), ("Resolved", notice.resolved())):
        if not alerts:
            continue
        parts.append(f"<h3>{title}</h3><ul>")
        for a in alerts:
            labels = ", ".join(f"{html.escape(k)}={html.escape(v)}" for k, v in sorted(a.labels.items()))
            output = templates.remediation_output(a)
            pre = f"<pre>{html.escape(output)}</pre>" if output else ""
            parts.append(f"<li>{html.escape(templates.alert_line(a))}<br><small>{labels}</small>{pre}</li>")
        parts.append("</ul>")
    links = [(name, url) for name, url in (("Status", templates.status_url(notice)), ("Runbook", templates.runbook_url(notice))) if url]
    if links:
        parts.append("<p>" + " | ".join(f'<a href="{html.escape(url, quote=True)}">{name}</a>' for name, url in links) + "</p>")
    parts.append("</body></html>")
    return "".join(parts)


def build_message(cfg: Any, notice: Notice, *, now: float, tset: TemplateSet | None = None) -> EmailMessage:
    """The mail; templated fields render with `tset` (None: our default templates)."""
    render = functools.partial(templates.render, templates=tset)
    msg = EmailMessage()
    recipients = [a.strip() for a in render(cfg.to, notice, default=cfg.to, name="to").split(",") if a.strip()]
    headers = {
        "From": render(cfg.from_ or "", notice, name="from"),
        "To": ", ".join(recipients),
        "Subject": templates.subject(notice),
    }
    for name, value in (getattr(cfg, "headers", None) or {}).items():
        # Alertmanager's header names are case-insensitive; ours override the defaults.
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        headers[name] = render(value, notice, name=f"headers.{name}")
    for name, value in headers.items():
        msg[name] = value.replace("\r", " ").replace("\n", " ")   # a label value cannot inject a header
    msg["Date"] = formatdate(now, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=MSGID_DOMAIN)
    root = thread_root_id(notice)
    msg["References"] = root
    msg["In-Reply-To"] = root
    msg["X-Watchdog-Group"] = notice.dedup_key
    msg["X-Watchdog-Status"] = notice.status
    msg["Auto-Submitted"] = "auto-generated"
    text = render(getattr(cfg, "text", None) or "", notice, default=templates.plain_text(notice), name="text")
    msg.set_content(text)
    body_html = render(getattr(cfg, "html", None) or "", notice, default=html_body(notice), name="html")
    msg.add_alternative(body_html, subtype="html")
    return msg


class EmailNotifier:
    integration = "email"

    def __init__(self, cfg: Any, *, receiver: str, clock: Clock, templates: TemplateSet | None = None) -> None:
        if not cfg.smarthost or not cfg.from_:
            raise ValueError(f"receiver {receiver!r}: email needs smarthost and from")
        self.receiver = receiver
        self.send_resolved = bool(getattr(cfg, "send_resolved", False))
        self._cfg = cfg
        self._clock = clock
        self._templates = templates
        host, _, port = cfg.smarthost.rpartition(":")
        self._host, self._port = host.strip("[]"), int(port)
        self._implicit_tls = bool(cfg.force_implicit_tls) if cfg.force_implicit_tls is not None else self._port == 465
        self._require_tls = bool(cfg.require_tls if cfg.require_tls is not None else True)
        self._timeout = float(getattr(cfg, "timeout", 0) or 0) or DEFAULT_TIMEOUT
        ctx = ssl_context(cfg.tls_config, owner=f"receiver {receiver} email")
        self._validate_certs = ctx is not False
        self._tls_context: ssl.SSLContext | None = ctx if isinstance(ctx, ssl.SSLContext) else None
        self._server_name = getattr(cfg.tls_config, "server_name", None) if cfg.tls_config is not None else None

    def __repr__(self) -> str:
        return f"EmailNotifier(receiver={self.receiver!r})"

    async def send(self, notice: Notice) -> None:
        msg = build_message(self._cfg, notice, now=self._clock.now(), tset=self._templates)
        recipients = [addr for _, addr in getaddresses([msg["To"]]) if addr]
        if not recipients:
            raise PermanentError("email: no recipient address", reason="config")
        where = f"smtp {self._host}:{self._port}"
        password = secret_text(self._cfg.auth_password) or ""
        kwargs: dict[str, Any] = dict(
            hostname=self._host, port=self._port, timeout=self._timeout, local_hostname=self._cfg.hello or "localhost",
            use_tls=self._implicit_tls, start_tls=(None if self._implicit_tls else (True if self._require_tls else None)),
            validate_certs=self._validate_certs, tls_context=self._tls_context if self._validate_certs else None,
        )
        if self._cfg.auth_username:
            kwargs.update(username=self._cfg.auth_username, password=password)
        try:
            errors, _ = await aiosmtplib.send(msg, sender=_address(msg["From"]), recipients=recipients, **kwargs)
        except aiosmtplib.SMTPAuthenticationError as e:
            raise PermanentError(f"email {where}: authentication failed ({e.code})", reason="client_error") from None
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = sorted({r.code for r in e.recipients})
            temporary = all(400 <= c < 500 for c in codes)
            cls = RetryableError if temporary else PermanentError
            raise cls(f"email {where}: all recipients refused ({', '.join(map(str, codes))})", reason="server_error" if temporary else "client_error") from None
        except aiosmtplib.SMTPResponseException as e:
            text = str(e.message)[:200].replace(password, "<secret>") if password else str(e.message)[:200]
            if 400 <= e.code < 500:
                raise RetryableError(f"email {where} answered {e.code}: {text}", reason="server_error") from None
            raise PermanentError(f"email {where} answered {e.code}: {text}", reason="client_error") from None
        except aiosmtplib.SMTPException as e:
            # No STARTTLS offered while required, a dropped connection, a timeout: retry, the server may be fixed.
            kind = "timeout" if isinstance(e, aiosmtplib.SMTPTimeoutError) else "network"
            raise RetryableError(f"email {where}: {type(e).__name__}: {str(e)[:200]}", reason=kind) from None
        except (OSError, socket.gaierror, ssl.SSLError) as e:
            raise RetryableError(f"email {where}: {type(e).__name__}", reason="network") from None
        refused = {addr: resp for addr, resp in (errors or {}).items()}
        if refused:
            log.warning("receiver %s: %d recipient(s) refused by %s", self.receiver, len(refused), where)

    async def close(self) -> None:
        return None


def _address(header: str) -> str:
    pairs = getaddresses([header])
    return pairs[0][1] if pairs and pairs[0][1] else header


def email_factory(cfg: Any, *, receiver: str, clock: Clock, templates: TemplateSet | None = None) -> EmailNotifier:
    return EmailNotifier(cfg, receiver=receiver, clock=clock, templates=templates)
