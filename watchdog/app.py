"""Composition root of `watchdog run -c FILE` (the subcommand itself: watchdog.run_command).

Builds every component from the config and wires them:

    ProbeScheduler ──sink──► SeriesStore ◄── Engine ◄── RuleManager ──on_alerts──► Dispatcher
                                                                     └─on_alerts──► Remediator ──notify_now──► Dispatcher

Owns the TaskGroup, the signals (SIGTERM/SIGINT drain, SIGHUP reload), the
validate-then-swap reload, readiness, and sd_notify. It is also the API's
ApiContext. Everything it does is logged once per state change.
"""

from __future__ import annotations

import asyncio
import math
import contextlib
import logging
import signal
from typing import Any, Sequence

from prometheus_client import Gauge
from pydantic import SecretStr

from watchdog import systemd
from watchdog.api import ApiServer, RuleGroupView, TargetView
from watchdog.clock import SYSTEM_CLOCK, Clock
from watchdog.config.errors import ConfigErrors
from watchdog.config.loader import LoadedConfig, load_config
from watchdog.config.models import parse_listen
from watchdog.model import Alert, Event
from watchdog.notify.templates import DEFAULT_TEMPLATES
from watchdog.probes.base import ProbeResult

log = logging.getLogger("watchdog.app")

# The reload metrics are the composition root's (the loader is a pure function with no lifecycle).
RELOAD_SUCCESSFUL = Gauge("watchdog_config_last_reload_successful", "Whether the last configuration reload attempt was successful.")
RELOAD_SUCCESS_TIME = Gauge("watchdog_config_last_reload_success_timestamp_seconds", "Timestamp of the last successful configuration reload.")
READY = Gauge("watchdog_ready", "1 while the daemon is ready (config loaded, store open, probing scheduled, not draining).")

READY_POLL = 0.05          # seconds between checks for "first probe round scheduled"
LOOP_STALL_SLACK = 5.0     # seconds beyond two evaluation intervals before the rule loop counts as stuck


class StartupError(Exception):
    """The daemon could not start; the message says why (already safe to log)."""


class Daemon:
    """The running daemon. Implements watchdog.api.context.ApiContext."""

    def __init__(self, config_path: str, *, clock: Clock = SYSTEM_CLOCK, listen: str | None = None,
                 storage_path: str | None = None) -> None:
        self.config_path = config_path
        self.clock = clock
        self._listen_override = listen
        self._storage_override = storage_path
        self._loaded: LoadedConfig | None = None
        self._store: Any = None
        self._engine: Any = None
        self._series: Any = None
        self._scheduler: Any = None
        self._rules: Any = None
        self._dispatcher: Any = None
        self._remediator: Any = None
        self._detectors: Any = None
        self._datasources: list[Any] = []
        self._heartbeat: Any = None
        self._housekeeping: Any = None
        self._api: ApiServer | None = None
        self._token: SecretStr | None = None
        self._read_token: SecretStr | None = None
        self._ready = False
        self._draining = False
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._last_round_mono: float | None = None
        self._started_mono = clock.monotonic()
        self._background: set[asyncio.Task[Any]] = set()

    # -- ApiContext ---------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready and not self._draining

    @property
    def dispatcher(self) -> Any:
        return self._dispatcher

    @property
    def remediator(self) -> Any:
        return self._remediator

    @property
    def detector_runner(self) -> Any:
        """The DetectorRunner (GET /api/v1/detectors); None while starting."""
        return self._detectors

    @property
    def store(self) -> Any:
        return self._store

    @property
    def engine(self) -> Any:
        return self._engine

    @property
    def token(self) -> SecretStr | None:
        return self._token

    @property
    def read_token(self) -> SecretStr | None:
        return self._read_token

    @property
    def channel_acks(self) -> Any:
        """`channel_acks:` of the running config (secrets of the Slack / PagerDuty ack endpoints)."""
        return self._loaded.config.channel_acks if self._loaded else None

    @property
    def api_port(self) -> int | None:
        return self._api.port if self._api is not None else None

    def alerts(self) -> Sequence[Alert]:
        return list(self._rules.alerts()) if self._rules is not None else []

    def targets(self) -> Sequence[TargetView]:
        if self._scheduler is None:
            return []
        return [TargetView(s.name, s.type, s.instance, s.labels, s.health, s.last_probe, s.last_duration, s.last_error)
                for s in self._scheduler.status()]

    def rule_health(self) -> Sequence[RuleGroupView]:
        if self._rules is None:
            return []
        return [_group_view(g) for g in self._rules.health()]

    # -- lifecycle ----------------------------------------------------------------
    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT (or request_stop()), drain; 0 on a clean stop, 1 on a failed start."""
        try:
            await self._start()
        except StartupError as exc:
            log.error("start failed: %s", exc)
            systemd.status(f"start failed: {exc}")
            await self._close_quietly()
            return 1
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        failed = False
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._scheduler.run(), name="probes"),
                    tg.create_task(self._rules.run(), name="rules"),
                    tg.create_task(self._dispatcher.run(), name="notifications"),
                    tg.create_task(self._become_ready(), name="readiness"),
                    tg.create_task(self._watchdog_pings(), name="sd-watchdog"),
                    tg.create_task(self._heartbeat.run(), name="heartbeat"),
                    tg.create_task(self._detectors.run(), name="detectors"),
                ]
                self._housekeeping.start()
                await self._stop.wait()
                await self._drain(tasks)
        except* Exception as group:
            failed = True
            for exc in group.exceptions:
                log.error("a core loop failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
        finally:
            self._remove_signals(loop)
        await self._close_quietly()
        if failed:
            return 1
        log.info("stopped")
        return 0

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("stop requested: draining")
        self._stop.set()

    async def _start(self) -> None:
        try:
            loaded = await asyncio.to_thread(load_config, self.config_path)
        except ConfigErrors as exc:
            for error in exc.errors:
                log.error("config error: %s", error)
            raise StartupError(f"{len(exc.errors)} config error(s) in {self.config_path}") from None
        except OSError as exc:
            raise StartupError(f"cannot read {self.config_path}: {exc.strerror or exc}") from None
        for warning in loaded.warnings:
            log.warning("config warning: %s", warning)
        self._apply_overrides(loaded)
        self._loaded = loaded
        config = loaded.config
        self._token, self._read_token = config.api.token, config.api.read_token

        from watchdog.state.sqlite import SqliteStore

        self._store = SqliteStore(config.storage.path, clock=self.clock)
        try:
            await self._store.open()
        except Exception as exc:  # a locked, corrupt or unwritable database
            raise StartupError(f"cannot open the store at {config.storage.path}: {exc}") from None
        log.info("store open: %s", config.storage.path)
        if loaded.alerting is None:
            log.warning("no alerting configured: alerts are evaluated and recorded but sent nowhere")
        try:
            self._build(loaded)
            await self._rules.restore()
            restored = await self._detectors.restore()
            if restored:
                log.info("detector models restored: %d", restored)
        except Exception as exc:  # a component refusing its (validated) config is a failed start, not a crash
            log.error("building the daemon failed", exc_info=True)
            raise StartupError(f"building the daemon failed: {type(exc).__name__}: {exc}") from None
        host, port = parse_listen(config.api.listen)
        self._api = ApiServer(self, host, port)
        try:
            await self._api.start()
        except OSError as exc:
            raise StartupError(f"cannot listen on {config.api.listen}: {exc.strerror or exc}") from None
        log.info("api listening on %s:%d", host, self._api.port)
        RELOAD_SUCCESSFUL.set(1)
        RELOAD_SUCCESS_TIME.set(self.clock.now())

    def _apply_overrides(self, loaded: LoadedConfig) -> None:
        if self._listen_override:
            loaded.config.api.listen = self._listen_override
        if self._storage_override:
            loaded.config.storage.path = self._storage_override

    def _build(self, loaded: LoadedConfig) -> None:
        from watchdog.alerting.dispatcher import Dispatcher
        from watchdog.detect.runner import DetectorRunner
        from watchdog.notify.heartbeat import Heartbeat
        from watchdog.housekeeping import Housekeeping, HousekeepingJob, retention_job
        from watchdog.probes.scheduler import ProbeScheduler
        from watchdog.promql.engine import Engine
        from watchdog.remediate.remediator import Remediator
        from watchdog.rules.manager import RuleManager
        from watchdog.tsdb.store import SeriesStore

        config = loaded.config
        external_labels = dict(config.global_.external_labels)
        self._series = SeriesStore(
            retention=config.storage.series_retention, max_samples_per_series=_samples_per_series(loaded),
        )
        self._engine = Engine(self._series)
        self._scheduler = ProbeScheduler(
            loaded.targets, clock=self.clock, sink=self._sink,
            default_interval=config.global_.scrape_interval, default_timeout=config.global_.scrape_timeout,
        )
        self._dispatcher = Dispatcher(
            _alerting_or_blackhole(loaded), store=self._store, clock=self.clock,
            external_url=config.api.external_url or "", external_labels=external_labels,
            escalation_policies=config.escalation_policies, **_damping(config),
            templates=loaded.notification_templates, dedup_retention=config.storage.retention,
        )
        # Dead-man's switch (issue 6): config read at each step, so reloads apply.
        self._heartbeat = Heartbeat(lambda: self._loaded.config.heartbeat if self._loaded else None,
                                    self.rule_loop_healthy, clock=self.clock)
        self._remediator = Remediator(
            loaded.remediation_specs, store=self._store, engine=self._engine, clock=self.clock,
            notify_now=self._dispatcher.notify_now, external_labels=external_labels,
            is_muted=self._dispatcher.is_muted, controls=self._dispatcher,
            change_events=config.change_events,
            probe_now=self._scheduler.probe_now,   # an action's end probes its target at once
        )
        # a resolved notice waits (bounded) for a remediation's verdict, so it can say "remediated by X"
        self._dispatcher.hold_resolved_while(self._remediator.verifying)
        self._rules = RuleManager(
            loaded.rule_groups, engine=self._engine, series=self._series, store=self._store, clock=self.clock,
            on_alerts=self._on_alerts, external_labels=external_labels,
            default_interval=config.global_.evaluation_interval,
            outage_tolerance=config.daemon.rules_outage_tolerance,
            for_grace_period=config.daemon.rules_for_grace_period,
            datasources=self._open_datasources(loaded),
        )

        # Detectors (issue 4): models per series, refits in worker threads, persisted in the store.
        self._detectors = DetectorRunner(
            loaded.detector_specs, engine=self._engine, series=self._series, store=self._store, clock=self.clock,
        )

        async def prune_series(now: float) -> None:
            self._series.prune(now)

        self._housekeeping = Housekeeping(self.clock, jobs=[
            retention_job(self._store, config.storage.retention),
            HousekeepingJob("series-prune", 60.0, prune_series),
            *self._detectors.housekeeping_jobs(),
        ])

    def _sink(self, source: str, result: ProbeResult, t: float) -> None:
        self._series.append_batch(source, result.samples, t)
        # fresh samples: the rule groups that read them evaluate now, not at their grid's phase,
        # and a verification waiting on them re-checks now
        label_sets = [labels for labels, _ in result.samples]
        self._rules.series_appended(source, label_sets)
        self._remediator.samples_landed(label_sets)

    async def _on_alerts(self, alerts: Sequence[Alert], t: float) -> None:
        """After every rule-evaluation round: notify and remediate. A failure in one never stops the other."""
        self._last_round_mono = self.clock.monotonic()
        for name, consumer in (("notifications", self._dispatcher), ("remediation", self._remediator)):
            try:
                # The always-firing Watchdog alert (heartbeat.watchdog_alert) is for receivers only.
                await consumer.on_alerts(self._heartbeat.with_watchdog_alert(alerts) if name == "notifications" else alerts, t)
            except Exception:
                log.exception("%s failed to take the alerts of a rule round", name)

    async def _become_ready(self) -> None:
        while not getattr(self._scheduler, "first_round_scheduled", False):
            await self.clock.sleep(READY_POLL)
        self._ready = True
        READY.set(1)
        systemd.ready()
        systemd.status("ready")
        targets = len(self._loaded.targets) if self._loaded else 0
        log.info("ready: %d target(s), %d rule group(s)", targets, len(self._loaded.rule_groups) if self._loaded else 0)

    # -- systemd watchdog: pings only while rule evaluation completes rounds ---------
    def _evaluation_period(self) -> float:
        assert self._loaded is not None
        default = self._loaded.config.global_.evaluation_interval
        intervals = [getattr(g, "interval", None) or default for g in self._loaded.rule_groups]
        return max(intervals, default=default)

    def rule_loop_healthy(self) -> bool:
        """A round completed within two evaluation periods (plus slack); before the first round, since start."""
        if self._loaded is None or not self._loaded.rule_groups:
            return True  # nothing to evaluate: the event loop answering is all there is to check
        limit = 2 * self._evaluation_period() + LOOP_STALL_SLACK
        since = self._last_round_mono if self._last_round_mono is not None else self._started_mono
        return self.clock.monotonic() - since <= limit

    async def _watchdog_pings(self) -> None:
        interval = systemd.watchdog_interval()
        if interval is None:
            return
        healthy = True
        while True:
            now_healthy = self.rule_loop_healthy()
            if now_healthy:
                systemd.watchdog_ping()
            if now_healthy != healthy:
                (log.info if now_healthy else log.error)(
                    "rule evaluation %s; systemd watchdog pings %s", "completes rounds again" if now_healthy else "is stuck",
                    "resumed" if now_healthy else "stopped")
                healthy = now_healthy
            await self.clock.sleep(interval / 2)

    # -- stop -----------------------------------------------------------------------
    async def _drain(self, tasks: list[asyncio.Task[Any]]) -> None:
        assert self._loaded is not None
        bound = self._loaded.config.daemon.drain_timeout
        self._draining = True
        READY.set(0)
        systemd.stopping()
        log.info("draining (bound %.1fs)", bound)
        probes, rules = tasks[0], tasks[1]
        for task in (probes, rules):
            task.cancel()
        await asyncio.gather(probes, rules, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._scheduler.close()
        # In-flight notifications and remediations get the bound together.
        try:
            results = await asyncio.wait_for(
                asyncio.gather(self._dispatcher.drain(bound), self._remediator.drain(bound), return_exceptions=True),
                timeout=bound + 1.0,
            )
            left = results[0] if isinstance(results[0], int) else None
            if left:
                log.warning("%d notice(s) left in the outbox; they are sent after the next start", left)
        except TimeoutError:
            log.warning("drain bound reached; unfinished work is recorded as interrupted")
        for task in tasks[2:]:
            task.cancel()
        await asyncio.gather(*tasks[2:], return_exceptions=True)
        await self._housekeeping.shutdown(timeout=1.0)
        persist = getattr(self._rules, "persist", None)
        if persist is not None:
            with contextlib.suppress(Exception):
                await persist()
        try:
            await self._detectors.persist()   # detector models survive the restart
        except Exception as exc:
            log.warning("saving detector models failed: %s", exc)

    def _open_datasources(self, loaded: LoadedConfig) -> dict[str, Any]:
        """Rule file path -> remote Prometheus-compatible query client, for files bound to a datasource."""
        from watchdog.rules.remote import PrometheusDatasource

        by_name: dict[str, Any] = {}
        for name in set(loaded.rule_file_datasources.values()):
            cfg = loaded.config.datasource(name)
            if cfg is not None:
                by_name[name] = PrometheusDatasource.from_config(cfg)
        self._datasources = list(by_name.values())
        return {path: by_name[name] for path, name in loaded.rule_file_datasources.items() if name in by_name}

    async def _close_quietly(self) -> None:
        await _close_datasources(self._datasources)
        self._datasources = []
        for name, closer in (
            ("api", self._api.stop if self._api is not None else None),
            ("notifications", getattr(self._dispatcher, "close", None)),
            ("store", self._store.close if self._store is not None else None),
        ):
            if closer is None:
                continue
            try:
                await closer()
            except Exception as exc:
                log.warning("closing %s failed: %s", name, exc)
        self._api = None
        self._dispatcher = None
        self._store = None

    # -- signals and reload ---------------------------------------------------------
    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload_in_background)

    def _remove_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    def _reload_in_background(self) -> None:
        log.info("SIGHUP: reloading %s", self.config_path)
        task = asyncio.get_running_loop().create_task(self.reload(), name="reload")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reload(self) -> tuple[bool, list[str]]:
        """Validate the whole new config, then swap; on any error keep the old one running."""
        async with self._reload_lock:
            if self._draining or self._loaded is None:
                return False, ["the daemon is not running (starting or draining)"]
            systemd.reloading()
            try:
                ok, errors = await self._reload_locked()
            finally:
                systemd.ready()
            systemd.status("ready" if ok else "ready; last reload failed")
            return ok, errors

    async def _reload_locked(self) -> tuple[bool, list[str]]:
        now = self.clock.now()
        try:
            new = await asyncio.to_thread(load_config, self.config_path)
        except ConfigErrors as exc:
            return await self._reload_failed(now, [str(e) for e in exc.errors])
        except OSError as exc:
            return await self._reload_failed(now, [f"{self.config_path}: cannot read: {exc.strerror or exc}"])
        for warning in new.warnings:
            log.warning("config warning: %s", warning)
        old = self._loaded
        assert old is not None
        self._apply_overrides(new)
        try:
            # The dispatcher builds its receivers first and raises without changing anything on error,
            # so it goes first; the other swaps cannot fail on a validated config.
            self._dispatcher.update_config(_alerting_or_blackhole(new), escalation_policies=new.config.escalation_policies,
                                           templates=new.notification_templates or DEFAULT_TEMPLATES,
                                           **_damping(new.config))
        except Exception as exc:
            return await self._reload_failed(now, [f"{self.config_path}: alerting: {type(exc).__name__}: {exc}"])
        self._scheduler.update_targets(new.targets)
        for gone in {t.name for t in old.targets} - {t.name for t in new.targets}:
            self._series.drop_source(gone, now)  # its series go stale now, not after the lookback
        old_datasources = self._datasources
        self._rules.update_groups(new.rule_groups, datasources=self._open_datasources(new))
        await _close_datasources(old_datasources)
        self._remediator.update_specs(new.remediation_specs)
        self._detectors.update_specs(new.detector_specs)
        self._token, self._read_token = new.config.api.token, new.config.api.read_token
        for what, before, after in (("api.listen", old.config.api.listen, new.config.api.listen),
                                    ("storage.path", old.config.storage.path, new.config.storage.path)):
            if before != after:
                log.warning("%s changed (%s -> %s): takes effect after a restart", what, before, after)
                new.config.api.listen = old.config.api.listen
                new.config.storage.path = old.config.storage.path
        self._loaded = new
        RELOAD_SUCCESSFUL.set(1)
        RELOAD_SUCCESS_TIME.set(now)
        await self._event(now, "config.reloaded", {
            "path": self.config_path, "targets": len(new.targets), "rule_groups": len(new.rule_groups),
            "remediations": len(new.remediation_specs),
        })
        log.info("config reloaded: %d target(s), %d rule group(s), %d remediation(s)",
                 len(new.targets), len(new.rule_groups), len(new.remediation_specs))
        return True, []

    async def _reload_failed(self, now: float, errors: list[str]) -> tuple[bool, list[str]]:
        RELOAD_SUCCESSFUL.set(0)
        log.error("config reload failed; the previous config keeps running (%d error(s))", len(errors))
        for line in errors:
            log.error("config error: %s", line)
        await self._event(now, "config.reload_failed", {"path": self.config_path, "errors": errors})
        return False, errors

    async def _event(self, now: float, kind: str, data: dict[str, Any]) -> None:
        try:
            await self._store.append_event(Event(now, kind, data))
        except Exception as exc:
            log.warning("could not record %s on the timeline: %s", kind, exc)


def _samples_per_series(loaded: LoadedConfig) -> int:
    """Ring-buffer size that holds `storage.series_retention` at the shortest configured interval.

    Bounded (1,024..43,200 samples, i.e. at most ~700 KB per series) so one 100 ms target cannot
    make every series huge; `storage.max_samples_per_series` overrides it.
    """
    storage = loaded.config.storage
    if storage.max_samples_per_series:
        return storage.max_samples_per_series
    intervals = [t.interval for t in loaded.targets if t.interval] + [loaded.config.global_.evaluation_interval]
    shortest = max(0.1, min(intervals))
    return int(min(43_200, max(1_024, math.ceil(storage.series_retention / shortest) + 1)))


async def _close_datasources(datasources: Sequence[Any]) -> None:
    for ds in datasources:
        try:
            await ds.close()
        except Exception as exc:
            log.warning("closing datasource failed: %s", exc)


def _damping(config: Any) -> dict[str, Any]:
    from watchdog.alerting.damping import FlapSettings, StormSettings

    flap, storm = config.damping.flapping, config.damping.storm
    return {
        "flapping": FlapSettings(enabled=flap.enabled, max_flips=flap.max_flips, window=flap.window, quiet=flap.quiet),
        "storm": StormSettings(enabled=storm.enabled, max_new_groups=storm.max_new_groups, window=storm.window),
    }


def _alerting_or_blackhole(loaded: LoadedConfig) -> Any:
    """The alerting config; without one, a root route to a receiver with no integrations (Alertmanager's blackhole)."""
    if loaded.alerting is not None:
        return loaded.alerting
    from watchdog.alerting.config import AlertingConfig

    return AlertingConfig.model_validate({"route": {"receiver": "blackhole"}, "receivers": [{"name": "blackhole"}]})


def _group_view(g: Any) -> RuleGroupView:
    """RuleManager.health() entries (mapping or object) as the API's view."""
    get = g.get if isinstance(g, dict) else (lambda k, d=None: getattr(g, k, d))
    return RuleGroupView(
        name=get("name", ""), file=get("file", ""), interval=float(get("interval", 0.0) or 0.0),
        health=get("health", "unknown"), last_error=get("last_error", "") or "",
        last_duration=float(get("last_duration", 0.0) or 0.0), last_evaluation=get("last_evaluation", None),
        rules=list(get("rules", ()) or ()), limit=int(get("limit", 0) or 0),
        query_offset=float(get("query_offset", 0.0) or 0.0),
    )
