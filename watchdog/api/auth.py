"""Bearer-token checks: mutating calls need `api.token_file`'s token, reads need `api.read_token_file`'s when set."""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import SecretStr

from watchdog.api.format import error


def _presented(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _matches(presented: str | None, *tokens: SecretStr | None) -> bool:
    if presented is None:
        return False
    given = presented.encode()
    ok = False
    for token in tokens:
        if token is None:
            continue
        # compare_digest runs in time independent of where the strings differ.
        ok |= hmac.compare_digest(given, token.get_secret_value().encode())
    return ok


def check_write(request: web.Request, token: SecretStr | None) -> web.Response | None:
    """None when allowed, else the 403/401 answer."""
    if token is None or not token.get_secret_value():
        return error(403, "forbidden", "mutating API calls are disabled: no api.token_file is configured")
    if not _matches(_presented(request), token):
        return _unauthorized()
    return None


def check_read(request: web.Request, read_token: SecretStr | None, token: SecretStr | None) -> web.Response | None:
    """Reads are open unless a read token is set; the write token also grants reads."""
    if read_token is None or not read_token.get_secret_value():
        return None
    if not _matches(_presented(request), read_token, token):
        return _unauthorized()
    return None


def _unauthorized() -> web.Response:
    resp = error(401, "unauthorized", "missing or invalid bearer token")
    resp.headers["WWW-Authenticate"] = 'Bearer realm="watchdog"'
    return resp
