"""The aiohttp application: routes, auth for reads, the error envelope, request metrics."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

from watchdog.api import alerting_routes, detect_routes, handlers, notify_routes, query, remediation_routes
from watchdog.api.auth import check_read
from watchdog.api.context import CTX, ApiContext
from watchdog.api.format import error
from watchdog.api.metrics import REQUEST_DURATION, REQUESTS

log = logging.getLogger(__name__)

# Bodies we accept are small (a reload has none, a query form a few KiB).
MAX_BODY_BYTES = 256 * 1024

# Always open: service managers and load balancers probe these without credentials.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
# Their handlers check the write token themselves; every other path is a read (query POSTs included).
MUTATING_PATHS = frozenset({"/-/reload"}) | notify_routes.PATHS   # Slack/PagerDuty ack hooks verify signatures

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _handler_name(request: web.Request) -> str:
    # Unmatched requests (404/405) get a system route without a resource; one label keeps cardinality bounded.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def _envelope_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx: ApiContext = request.app[CTX]
    started = ctx.clock.monotonic()
    name = _handler_name(request)
    try:
        if request.path not in OPEN_PATHS and request.path not in MUTATING_PATHS:
            denied = check_read(request, ctx.read_token, ctx.token)
            if denied is not None:
                response: web.StreamResponse = denied
            else:
                response = await handler(request)
        else:
            response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
        response = error(413, "bad_data", f"request body larger than {MAX_BODY_BYTES} bytes")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = "not_found" if exc.status == 404 else "bad_data" if exc.status < 500 else "internal"
        response = error(exc.status, kind, exc.reason)
    except Exception:
        # The traceback goes to our log only; the client learns nothing about internals.
        log.exception("API handler %s failed", name)
        response = error(500, "internal", "internal error")
    REQUESTS.labels(name, str(response.status)).inc()
    REQUEST_DURATION.labels(name).observe(max(0.0, ctx.clock.monotonic() - started))
    return response


def build_api(ctx: ApiContext) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_envelope_and_metrics])
    app[CTX] = ctx
    r = app.router
    r.add_get("/healthz", handlers.healthz)
    r.add_get("/readyz", handlers.readyz)
    r.add_get("/metrics", handlers.metrics)
    r.add_get("/api/v1/alerts", handlers.alerts)
    r.add_get("/api/v1/targets", handlers.targets)
    r.add_get("/api/v1/events", handlers.events)
    r.add_get("/api/v1/rules", handlers.rules)
    r.add_get("/api/v1/query", query.instant_query)
    r.add_post("/api/v1/query", query.instant_query)
    r.add_get("/api/v1/query_range", query.range_query)
    r.add_post("/api/v1/query_range", query.range_query)
    r.add_post("/-/reload", handlers.reload)
    alerting_routes.register(app, ctx)   # groups, acks, silences, /api/v2/alerts
    notify_routes.register(app, ctx)     # Slack interactivity, PagerDuty v3 webhooks (acks)
    remediation_routes.register(app, ctx)   # runs, approvals, kill switch, manual runs, changes
    detect_routes.register(app, ctx)        # GET /api/v1/detectors
    return app


class ApiServer:
    """Runs the application on a host:port; `port` is the bound one (useful with port 0)."""

    def __init__(self, ctx: ApiContext, host: str, port: int) -> None:
        self._runner = web.AppRunner(build_api(ctx), access_log=None, handle_signals=False)
        self.host = host
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # noqa: SLF001 - aiohttp exposes no public bound-port getter
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self._runner.cleanup()


def parse_listen(listen: str) -> tuple[str, int]:
    """"127.0.0.1:9797" / "[::1]:9797" / ":9797" -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep:
        raise ValueError(f"listen address {listen!r} must be HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)
