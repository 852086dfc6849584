"""`slack_configs`: Block Kit messages through slack-sdk's async clients.

Two modes, as Slack offers them:
- incoming webhook (`api_url` / `api_url_file`): AsyncWebhookClient; a resolve posts a
  resolved message;
- bot token (`app_token` + `channel`): AsyncWebClient, `chat.postMessage`; a resolve updates
  the original message (`chat.update`), or replies in its thread with `update_message: false`.
  The message's channel and `ts` are kept in the store's key/value table, so this works
  across restarts.

Messages carry severity, summary, labels, links to our status page and the runbook, and an
Acknowledge button (the interactivity endpoint in watchdog.api.notify_routes acks the group).
Slack's `ok: false` errors are classified: `ratelimited` retries after Retry-After, transient
server errors retry, the rest (invalid_auth, channel_not_found, invalid_blocks, ...) are permanent.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import ssl
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from watchdog.clock import Clock
from watchdog.notify import templates
from watchdog.notify.base import Notice, PermanentError, RetryableError
from watchdog.notify.httpclient import secret_text, ssl_context
from watchdog.notify.webhook import parse_retry_after, redact_url, scrub_answer
from watchdog.promql.template_set import TemplateSet

CODE_FENCE = "```"
log = logging.getLogger("watchdog.notify")
# slack_sdk logs every request's URL and answer at DEBUG: for an incoming webhook the URL is the
# secret. Its clients get this logger, which never passes DEBUG on, whatever the daemon's level.
_sdk_log = logging.getLogger("watchdog.notify.slack_sdk")
_sdk_log.setLevel(logging.INFO)

DEFAULT_TIMEOUT = 10
ACK_ACTION_ID = "watchdog_ack"
HEADER_MAX = 150            # Slack's limit for a header block's text
SECTION_MAX = 3000          # and for a section's text
RETRYABLE_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org"})
# chat.update answers meaning the message is gone or frozen: the notice is then posted as a new message.
UPDATE_IMPOSSIBLE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed", "msg_too_long"})
SEVERITY_COLORS = {"critical": "#d0021b", "error": "#d0021b", "page": "#d0021b", "warning": "#f5a623", "info": "#4a90e2"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message(cfg: Any, notice: Notice, tset: TemplateSet | None = None) -> dict[str, Any]:
    """The chat message: fallback `text` and one colored attachment holding the Block Kit blocks;
    templated fields render with `tset` (the loaded config's template set; None: our defaults)."""
    render = functools.partial(templates.render, templates=tset)
    title = render(getattr(cfg, "title", ""), notice, default=templates.subject(notice), name="title")
    body_lines = []
    sev = templates.severity(notice)
    if notice.status == "firing" and sev:
        body_lines.append(f"*Severity:* {sev}")
    if notice.reason:
        body_lines.append(f"*Note:* {notice.reason}")
    for heading, alerts in (("Firing", notice.firing()), ("Resolved", notice.resolved())):
        if alerts:
            body_lines.append(f"*{heading}:*")
            for a in alerts:
                body_lines.append(f"• {templates.alert_line(a)}")
                output = templates.remediation_output(a)
                if output:  # a code block; a fence inside the output would end it early
                    body_lines.append(CODE_FENCE + output.replace(CODE_FENCE, "'" * 3) + CODE_FENCE)
    if notice.truncated:
        body_lines.append(f"… and {notice.truncated} more alert(s)")
    text = render(getattr(cfg, "text", ""), notice, default="\n".join(body_lines), name="text")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, HEADER_MAX), "emoji": True}},
    ]
    pretext = render(getattr(cfg, "pretext", ""), notice, name="pretext")
    if pretext:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(pretext, SECTION_MAX)}})
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_MAX)}})
    fields = [{"type": "mrkdwn", "text": _cut(f"*{render(f.title, notice, name='fields.title')}*\n{render(f.value, notice, name='fields.value')}", 2000)}
              for f in getattr(cfg, "fields", None) or []][:10]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    labels = " ".join(f"`{k}={v}`" for k, v in sorted(notice.common_labels.items()))
    if labels:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(labels, SECTION_MAX)}]})
    buttons: list[dict[str, Any]] = []
    if notice.status == "firing":
        buttons.append({"type": "button", "action_id": ACK_ACTION_ID, "style": "primary", "value": templates.group_id(notice),
                        "text": {"type": "plain_text", "text": "Acknowledge"}})
    for label, url in (("Status", templates.status_url(notice)), ("Runbook", templates.runbook_url(notice))):
        if url:
            buttons.append({"type": "button", "action_id": f"watchdog_link_{label.lower()}", "url": url,
                            "text": {"type": "plain_text", "text": label}})
    for action in getattr(cfg, "actions", None) or []:
        if action.type == "button" and action.url:
            buttons.append({"type": "button", "url": render(action.url, notice, name="actions.url"),
                            "text": {"type": "plain_text", "text": _cut(render(action.text, notice, name="actions.text"), 75)}})
    if buttons:
        blocks.append({"type": "actions", "block_id": "watchdog_actions", "elements": buttons[:25]})
    footer = render(getattr(cfg, "footer", ""), notice, name="footer")
    if footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(footer, SECTION_MAX)}]})
    default_color = "good" if notice.status != "firing" else SEVERITY_COLORS.get(sev.lower(), "danger")
    color = render(getattr(cfg, "color", ""), notice, default=default_color, name="color")
    fallback = render(getattr(cfg, "fallback", ""), notice, default=title, name="fallback")
    out: dict[str, Any] = {
        "text": render(getattr(cfg, "message_text", ""), notice, default=fallback, name="message_text"),
        "attachments": [{"color": color, "fallback": fallback, "blocks": blocks}],
    }
    return out


def _classify(status: int, error: str, headers: Any, now: float, where: str) -> Exception:
    message_text = f"slack {where} answered {status}" + (f": {error[:100]}" if error else "")
    if status == 429 or error in ("ratelimited", "rate_limited"):
        retry_after = parse_retry_after((headers or {}).get("Retry-After") or (headers or {}).get("retry-after"), now)
        return RetryableError(message_text, retry_after if retry_after is not None else 1.0, reason="rate_limited")
    if status >= 500 or error in RETRYABLE_ERRORS:
        return RetryableError(message_text, reason="server_error")
    return PermanentError(message_text, reason="client_error")


class SlackNotifier:
    integration = "slack"

    def __init__(self, cfg: Any, *, receiver: str, clock: Clock, templates: TemplateSet | None = None) -> None:
        self.receiver = receiver
        self._templates = templates
        self.send_resolved = bool(getattr(cfg, "send_resolved", False))
        self._cfg = cfg
        self._clock = clock
        self._timeout = int(float(getattr(cfg, "timeout", 0) or 0)) or DEFAULT_TIMEOUT
        self._token = secret_text(getattr(cfg, "app_token", None))
        self._webhook_url = secret_text(getattr(cfg, "api_url", None))
        if not self._token and not self._webhook_url:
            raise ValueError(f"receiver {receiver!r}: slack needs api_url or app_token")
        tls = getattr(getattr(cfg, "http_config", None), "tls_config", None)
        ctx = ssl_context(tls, owner=f"receiver {receiver} slack")
        if ctx is False:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self._ssl = ctx
        self._store: Any = None
        self._web: AsyncWebClient | None = None
        self._hook: AsyncWebhookClient | None = None
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"SlackNotifier(receiver={self.receiver!r})"

    @property
    def rate_key(self) -> str:
        """Slack's limit is about one message per second per channel: integrations posting to the
        same channel (same webhook, or same workspace token and channel) share it. A hash: the
        webhook URL and the token are secrets."""
        target = f"{self._token}\0{getattr(self._cfg, 'channel', '')}" if self._token else str(self._webhook_url)
        return "slack:" + hashlib.sha256(target.encode()).hexdigest()[:32]

    @property
    def bot_mode(self) -> bool:
        return bool(self._token)

    def attach_store(self, store: Any) -> None:
        """Where bot mode keeps the channel and ts of each group's message (the outbox calls this)."""
        self._store = store

    def _api_base(self) -> str:
        url = str(getattr(self._cfg, "app_url", "") or "https://slack.com/api/chat.postMessage")
        return url.rsplit("/", 1)[0] + "/" if url.rstrip("/").endswith("chat.postMessage") else url.rstrip("/") + "/"

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl))
        return self._session

    def _ts_key(self, notice: Notice) -> str:
        return f"notify.slack.ts:{self.receiver}:{self._cfg.channel}:{notice.dedup_key}"

    async def send(self, notice: Notice) -> None:
        body = message(self._cfg, notice, self._templates)
        try:
            if self.bot_mode:
                await self._send_bot(notice, body)
            else:
                await self._send_webhook(body)
        except (RetryableError, PermanentError):
            raise
        except asyncio.TimeoutError:
            raise RetryableError(f"slack: no answer within {self._timeout}s", reason="timeout") from None
        except (aiohttp.ClientError, SlackRequestError, OSError) as e:
            raise RetryableError(f"slack: {type(e).__name__}", reason="network") from None

    async def _send_webhook(self, body: dict[str, Any]) -> None:
        assert self._webhook_url is not None
        if self._hook is None:
            self._hook = AsyncWebhookClient(self._webhook_url, timeout=self._timeout, session=self._get_session(), retry_handlers=[],
                                            logger=_sdk_log)
        resp = await self._hook.send(text=body["text"], attachments=body["attachments"])
        answer = (resp.body or "").strip()
        if resp.status_code == 200 and answer in ("ok", ""):
            return
        raise _classify(resp.status_code, scrub_answer(answer, self._webhook_url), resp.headers, self._clock.now(),
                        redact_url(self._webhook_url))

    async def _send_bot(self, notice: Notice, body: dict[str, Any]) -> None:
        if self._web is None:
            self._web = AsyncWebClient(token=self._token, base_url=self._api_base(), timeout=self._timeout,
                                       session=self._get_session(), retry_handlers=[], logger=_sdk_log)
        channel = self._cfg.channel
        extra: dict[str, Any] = {}
        if getattr(self._cfg, "username", ""):
            extra["username"] = self._cfg.username
        if getattr(self._cfg, "icon_emoji", ""):
            extra["icon_emoji"] = self._cfg.icon_emoji
        elif getattr(self._cfg, "icon_url", ""):
            extra["icon_url"] = self._cfg.icon_url
        try:
            posted = await self._load_ts(notice)
            if notice.status != "firing" and posted is not None:
                ch, ts = posted
                if not getattr(self._cfg, "update_message", True):
                    await self._web.chat_postMessage(channel=ch, thread_ts=ts, text=body["text"], attachments=body["attachments"], **extra)
                elif not await self._update(ch, ts, body):
                    await self._web.chat_postMessage(channel=channel, text=body["text"], attachments=body["attachments"], **extra)
                await self._save_ts(notice, None)
                return
            if posted is not None and notice.status == "firing":
                ch, ts = posted   # the group changed while firing: keep one message up to date
                if await self._update(ch, ts, body):
                    return
            resp = await self._web.chat_postMessage(channel=channel, text=body["text"], attachments=body["attachments"], **extra)
        except SlackApiError as e:
            r = e.response
            error = str(r.data.get("error", "") or "") if isinstance(r.data, dict) else ""
            raise _classify(r.status_code, scrub_answer(error, self._api_base(), self._token), r.headers, self._clock.now(),
                            "chat API") from None
        if notice.status == "firing" and resp.get("ts"):
            await self._save_ts(notice, (str(resp.get("channel") or channel), str(resp["ts"])))

    async def _update(self, ch: str, ts: str, body: dict[str, Any]) -> bool:
        """chat.update the group's message; False when Slack cannot (deleted, too old): post anew then."""
        assert self._web is not None
        try:
            await self._web.chat_update(channel=ch, ts=ts, text=body["text"], attachments=body["attachments"])
        except SlackApiError as e:
            data = e.response.data if isinstance(e.response.data, dict) else {}
            if data.get("error") in UPDATE_IMPOSSIBLE:
                log.info("receiver %s: the Slack message could not be updated (%s); posting a new one",
                         self.receiver, data.get("error"))
                return False
            raise
        return True

    async def _load_ts(self, notice: Notice) -> tuple[str, str] | None:
        if self._store is None:
            return None
        try:
            raw = await self._store.kv_get(self._ts_key(notice))
        except Exception:
            log.warning("receiver %s: could not read the Slack message reference; posting a new message", self.receiver)
            return None
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return str(data["channel"]), str(data["ts"])
        except (ValueError, KeyError, TypeError):
            return None

    async def _save_ts(self, notice: Notice, ref: tuple[str, str] | None) -> None:
        if self._store is None:
            return
        try:
            await self._store.kv_set(self._ts_key(notice), None if ref is None else json.dumps({"channel": ref[0], "ts": ref[1]}))
        except Exception:
            # The message went out; losing its reference only means the resolve is a new message.
            log.warning("receiver %s: could not store the Slack message reference", self.receiver)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        self._web = None
        self._hook = None


def slack_factory(cfg: Any, *, receiver: str, clock: Clock, templates: TemplateSet | None = None) -> SlackNotifier:
    return SlackNotifier(cfg, receiver=receiver, clock=clock, templates=templates)
