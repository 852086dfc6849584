"""A signed Slack interactivity request (the Acknowledge button), as Slack sends it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode


def slack_request(group_id: str, secret: str, *, user: str = "alice") -> tuple[bytes, dict[str, str]]:
    payload = {"type": "block_actions", "user": {"id": "U1", "username": user},
               "actions": [{"action_id": "watchdog_ack", "value": group_id}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig,
                  "Content-Type": "application/x-www-form-urlencoded"}
