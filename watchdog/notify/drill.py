"""Fire drills: one clearly marked test notice through every integration of a receiver.

Used by `POST /api/v1/receivers/{name}/test` (the running daemon's receivers, the default of
`watchdog notify test`) and by `watchdog notify test --direct -c FILE`. The notifiers are the
real ones, built from the receiver's config exactly as the dispatcher builds them; the notice
is sent at once (no outbox: the operator wants the channel's answer now) and each answer is
returned. Answers carry the notifiers' own error messages, which name scheme and host only:
no secret ever reaches them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from watchdog.clock import Clock
from watchdog.notify.base import Notice, NoticeAlert, NotifyError, RetryableError
from watchdog.notify.registry import build_integrations
from watchdog.promql.template_set import TemplateSet

DRILL_ALERTNAME = "WatchdogFireDrill"


def drill_notice(receiver: str, now: float, external_url: str = "") -> Notice:
    labels = {"alertname": DRILL_ALERTNAME, "severity": "info", "receiver": receiver}
    alert = NoticeAlert(
        status="firing", labels=labels,
        annotations={"summary": f"TEST: fire drill for receiver {receiver}; no action needed",
                     "description": "Sent by `watchdog notify test`. If you read this, the channel works."},
        starts_at=now, ends_at=None, generator_url="",
        fingerprint=hashlib.sha256(f"drill:{receiver}".encode()).hexdigest()[:16],
    )
    return Notice.build(receiver=receiver, group_key=f"watchdog:fire-drill:{receiver}:{int(now)}",
                        group_labels={"alertname": DRILL_ALERTNAME}, alerts=[alert], external_url=external_url,
                        reason="fire drill (test notice)", created_at=now)


def resolved_drill_notice(notice: Notice, now: float) -> Notice:
    alert = notice.alerts[0]
    resolved = NoticeAlert("resolved", alert.labels, alert.annotations, alert.starts_at, now, "", alert.fingerprint)
    return Notice.build(receiver=notice.receiver, group_key=notice.group_key, group_labels=notice.group_labels,
                        alerts=[resolved], external_url=notice.external_url, reason=notice.reason, created_at=now)


async def run_drill(receiver_cfg: Any, *, clock: Clock, external_url: str = "", resolve: bool = False,
                    templates: TemplateSet | None = None) -> list[dict[str, Any]]:
    """Send the drill through each integration; one answer per integration, in config order.

    Each answer: {"integration": "oncall/slack/0", "accepted": bool, "answer": "accepted" |
    "retryable" | "permanent" | "error", "reason": metric reason or "", "message": str, "ms": int}.
    Never raises for a channel's failure. `templates`: the template set of the config the
    receiver comes from (the running dispatcher's, or the loaded file's for --direct).
    """
    name = receiver_cfg.name
    integrations = build_integrations(receiver_cfg, clock=clock, templates=templates)
    notice = drill_notice(name, clock.now(), external_url)
    answers: list[dict[str, Any]] = []
    for integ in integrations:
        started = clock.monotonic()
        answer: dict[str, Any] = {"integration": integ.key, "accepted": False, "answer": "error", "reason": "", "message": ""}
        try:
            await integ.notifier.send(notice)
            if resolve:
                await integ.notifier.send(resolved_drill_notice(notice, clock.now()))
            answer.update(accepted=True, answer="accepted")
        except NotifyError as e:
            answer.update(answer="retryable" if isinstance(e, RetryableError) else "permanent", reason=e.reason,
                          message=e.message)
        except Exception as e:  # a configuration the notifier cannot use; its text may quote config values
            answer.update(reason="config", message=type(e).__name__)
        finally:
            try:
                await integ.notifier.close()
            except Exception:
                pass
        answer["ms"] = int(max(0.0, clock.monotonic() - started) * 1000)
        answers.append(answer)
    return answers


def format_answer(answer: dict[str, Any]) -> str:
    if answer.get("accepted"):
        return f"{answer['integration']}: accepted ({answer.get('ms', 0)} ms)"
    return f"{answer['integration']}: FAILED ({answer.get('answer')}, {answer.get('reason')}): {answer.get('message')}"
