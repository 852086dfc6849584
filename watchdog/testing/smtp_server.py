"""A local SMTP server (aiosmtpd) with STARTTLS or implicit TLS and AUTH, for tests and drills.

Runs in the caller's event loop on 127.0.0.1 (port 0 picks a free port). Mail is kept as
parsed `email.message.EmailMessage` objects with the envelope, so tests check what a mail
client would see: headers, both parts, threading. `fail_next(n, code)` answers the next
DATA commands with an SMTP error (4xx temporary, 5xx permanent).

`self_signed_cert(directory)` writes a throwaway certificate for 127.0.0.1/localhost
(cryptography) and returns (cert path, key path).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import warnings
from collections import deque
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def self_signed_cert(directory: str | Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = Path(directory)
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    auth_user: str | None


class _Handler:
    def __init__(self, server: "SmtpServer") -> None:
        self.server = server

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.faults:
            return self.server.faults.popleft()
        msg = message_from_bytes(envelope.original_content or envelope.content or b"", policy=policy.default)
        user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.server.mails.append(ReceivedMail(envelope.mail_from or "", list(envelope.rcpt_tos), msg,  # type: ignore[arg-type]
                                              tls=smtp.transport is not None and smtp.transport.get_extra_info("ssl_object") is not None,
                                              auth_user=user))
        return "250 OK"


class SmtpServer:
    def __init__(self, *, cert: tuple[str, str] | None = None, implicit_tls: bool = False,
                 users: dict[str, str] | None = None, require_starttls: bool = True,
                 auth_mechanisms: tuple[str, ...] | None = None) -> None:
        self.mails: list[ReceivedMail] = []
        self.auth_log: list[tuple[str, str, bool]] = []   # (mechanism, user, accepted) per AUTH attempt
        # Offer only these AUTH mechanisms (e.g. ("LOGIN",)); None offers aiosmtpd's PLAIN and LOGIN.
        self._auth_mechanisms = auth_mechanisms
        self.faults: deque[str] = deque()
        self.auth_failures = 0
        self.users = dict(users or {})
        self.port = 0
        self._cert = cert
        self._implicit = implicit_tls
        self._require_starttls = require_starttls and cert is not None and not implicit_tls
        self._server: asyncio.AbstractServer | None = None

    def fail_next(self, count: int, code: str = "451 4.3.0 try again later") -> None:
        self.faults.extend([code] * count)

    @property
    def smarthost(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _authenticate(self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        user = data.login.decode() if isinstance(data, LoginPassword) else ""
        if isinstance(data, LoginPassword) and self.users.get(user) == data.password.decode():
            self.auth_log.append((mechanism, user, True))
            return AuthResult(success=True, auth_data=data)
        self.auth_log.append((mechanism, user, False))
        self.auth_failures += 1
        return AuthResult(success=False, handled=False)

    def _tls_context(self) -> ssl.SSLContext | None:
        if self._cert is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*self._cert)
        return ctx

    async def start(self) -> "SmtpServer":
        ctx = self._tls_context()
        handler = _Handler(self)

        def factory() -> SMTP:
            with warnings.catch_warnings():
                # aiosmtpd cannot see implicit TLS and warns that AUTH is allowed without it; it is not.
                warnings.simplefilter("ignore", UserWarning)
                return self._smtp(handler, ctx)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(factory, "127.0.0.1", 0, ssl=ctx if self._implicit else None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _smtp(self, handler: _Handler, ctx: ssl.SSLContext | None) -> SMTP:
        return SMTP(
            handler, hostname="localhost", tls_context=None if self._implicit else ctx,
            require_starttls=self._require_starttls, auth_required=bool(self.users),
            auth_require_tls=self._cert is not None and not self._implicit, authenticator=self._authenticate if self.users else None,
            auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if m not in self._auth_mechanisms] if self._auth_mechanisms else None,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> "SmtpServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
