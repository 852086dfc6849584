"""`GET /api/v1/detectors`: each detector, its health, and its series with score, warm-up and last refit.

The context exposes the running `DetectorRunner` as `ctx.detector_runner`
(None while starting, or when no detector is configured: the answer is then
an empty list). Optional filters: `?detector=NAME`, and `?limit=N` series per
detector (default 1,000) so a detector over many series stays a small answer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from watchdog.api.context import CTX
from watchdog.api.format import BadParameter, error, parse_int, rfc3339, success

DEFAULT_SERIES_LIMIT = 1000


def detector_json(entry: dict[str, Any], limit: int) -> dict[str, Any]:
    series = entry.get("series", [])
    return {
        "name": entry["detector"],
        "algorithm": entry["algorithm"],
        "input": entry["input"],
        "health": entry["health"],
        "lastError": entry.get("last_error", ""),
        "lastEvaluation": rfc3339(entry.get("last_evaluation")),
        "seriesCount": len(series),
        "series": [
            {
                "labels": s["labels"],
                "score": s["score"],
                "warm": s["warm"],
                "firstSeen": rfc3339(s.get("first_seen")),
                "lastRefit": rfc3339(s.get("last_refit")),
            }
            for s in series[:limit]
        ],
    }


async def detectors(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    try:
        limit = parse_int(request.query.get("limit"), "limit", DEFAULT_SERIES_LIMIT, 0, 1_000_000)
    except BadParameter as e:
        return error(400, "bad_data", str(e))
    wanted = request.query.get("detector")
    runner = getattr(ctx, "detector_runner", None)
    entries = runner.status() if runner is not None else []
    out = [detector_json(e, limit) for e in entries if wanted is None or e["detector"] == wanted]
    return success({"detectors": out})


def register(app: web.Application, ctx: Any) -> None:
    app.router.add_get("/api/v1/detectors", detectors)
