"""TLS settings shared by the http, tcp and scrape probes, and certificate expiry."""

from __future__ import annotations

import ssl
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from watchdog.probes.base import resolve_path


class TlsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    insecure_skip_verify: bool = False
    ca_file: str | None = None
    server_name: str | None = None  # SNI / hostname to verify, when it differs from the URL's host

    @field_validator("ca_file")
    @classmethod
    def _resolve(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and not v:
            raise ValueError("must not be empty")
        return resolve_path(v, info)


def build_ssl_context(tls: TlsConfig | None) -> ssl.SSLContext | None:
    """None means "the library default" (system CAs, verification on).

    Raises OSError / ssl.SSLError when `ca_file` cannot be read; probes turn
    that into a failure reason.
    """
    if tls is None or (not tls.insecure_skip_verify and tls.ca_file is None):
        return None
    ctx = ssl.create_default_context(cafile=tls.ca_file)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def cert_expiry(ssl_object: Any) -> float | None:
    """`notAfter` of the peer's leaf certificate in unix seconds, or None.

    With verification on, `getpeercert()` gives the parsed certificate. With
    `insecure_skip_verify` it returns {} and only the DER bytes are available;
    those are parsed with `cryptography` when it is installed.
    """
    if ssl_object is None:
        return None
    try:
        cert = ssl_object.getpeercert()
    except (ValueError, AttributeError):
        return None
    if cert and "notAfter" in cert:
        try:
            return float(ssl.cert_time_to_seconds(cert["notAfter"]))
        except ValueError:
            return None
    try:
        der = ssl_object.getpeercert(binary_form=True)
    except (ValueError, AttributeError):
        return None
    if not der:
        return None
    try:
        from cryptography import x509
    except ImportError:
        return None
    try:
        parsed = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    return parsed.not_valid_after_utc.timestamp()
