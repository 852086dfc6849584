"""Guardrail decisions on FakeClock timelines (pure: no store, no processes)."""

from __future__ import annotations

from watchdog.remediate.guardrails import Allow, Deny, breaker_state, decide
from watchdog.remediate.spec import Guardrails
from watchdog.state.base import RemediationRun

FP = "alert-a"


def run(status: str, created: float, *, fp: str = FP, ended: float | None = None, spec: str = "fix", target: str = "t1") -> RemediationRun:
    return RemediationRun(spec=spec, alert_fingerprint=fp, labels={}, status=status, created_at=created,
                          started_at=created, ended_at=ended, target=target)


def d(g: Guardrails, history, now, *, in_flight=(), fp=FP, target="t1", **kw):
    return decide(g, spec="fix", fingerprint=fp, target=target, history=history, in_flight=in_flight, now=now, **kw)


def test_first_run_is_allowed(fake_clock):
    assert d(Guardrails(), [], fake_clock.now()) == Allow()


def test_kill_switch_denies_everything(fake_clock):
    out = d(Guardrails(), [], fake_clock.now(), kill_switch=True)
    assert isinstance(out, Deny) and out.code == "kill_switch"


def test_cooldown_counts_from_the_end_of_the_last_run(fake_clock):
    g = Guardrails(cooldown=60, max_attempts=10)
    t0 = fake_clock.now()
    history = [run("verified", t0, ended=t0 + 20)]
    fake_clock.advance(79)  # 59 s after the end
    out = d(g, history, fake_clock.now())
    assert isinstance(out, Deny) and out.code == "cooldown" and "cooldown 1m" in out.reason
    fake_clock.advance(1)  # exactly 60 s after the end
    assert d(g, history, fake_clock.now()) == Allow()


def test_cooldown_is_per_alert(fake_clock):
    g = Guardrails(cooldown=300)
    t0 = fake_clock.now()
    history = [run("failed", t0, ended=t0 + 1)]
    fake_clock.advance(10)
    assert isinstance(d(g, history, fake_clock.now()), Deny)
    assert d(g, history, fake_clock.now(), fp="other-alert", target="t2") == Allow()


def test_max_attempts_counts_attempts_in_the_window_including_interrupted(fake_clock):
    g = Guardrails(cooldown=0, max_attempts=3, window=3600)
    t0 = fake_clock.now()
    history = [run("failed", t0, ended=t0 + 5), run("interrupted", t0 + 100), run("verified", t0 + 200, ended=t0 + 210)]
    fake_clock.advance(300)
    out = d(g, history, fake_clock.now())
    assert isinstance(out, Deny) and out.code == "max_attempts" and "3 in the last 1h" in out.reason
    # the first attempt leaves the window one hour after it was created
    fake_clock.set(t0 + 3600)
    assert d(g, history, fake_clock.now()) == Allow()


def test_dry_runs_and_refusals_do_not_spend_attempts_but_dry_runs_hold_the_cooldown(fake_clock):
    g = Guardrails(cooldown=60, max_attempts=1)
    t0 = fake_clock.now()
    history = [run("dry_run", t0, ended=t0), run("skipped", t0 + 1, ended=t0 + 1)]
    fake_clock.advance(30)
    out = d(g, history, fake_clock.now(), dry_run=True)
    assert isinstance(out, Deny) and out.code == "cooldown"
    fake_clock.advance(30)
    assert d(g, history, fake_clock.now(), dry_run=True) == Allow(dry_run=True)


def test_a_run_in_progress_for_the_same_alert_blocks_a_second_one(fake_clock):
    g = Guardrails(cooldown=0, max_concurrent=5)
    now = fake_clock.now()
    flying = run("running", now)
    out = d(g, [flying], now, in_flight=[flying])
    assert isinstance(out, Deny) and out.code == "in_progress"


def test_max_concurrent_per_spec_and_global_limit(fake_clock):
    now = fake_clock.now()
    flying = [run("running", now, fp="a1"), run("succeeded", now, fp="a2", spec="other")]
    out = d(Guardrails(max_concurrent=1), flying, now, in_flight=flying, fp="a3")
    assert isinstance(out, Deny) and out.code == "max_concurrent"
    assert d(Guardrails(max_concurrent=2), flying, now, in_flight=flying, fp="a3") == Allow()
    out = d(Guardrails(max_concurrent=2), flying, now, in_flight=flying, fp="a3", max_in_flight_total=2)
    assert isinstance(out, Deny) and out.code == "global_concurrency"


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_reset(fake_clock):
    g = Guardrails(cooldown=0, max_attempts=100, breaker={"failures": 3, "reset_after": "10m"})
    t0 = fake_clock.now()
    history = [run("failed", t0, fp="a1", ended=t0 + 1), run("verification_failed", t0 + 10, fp="a2", ended=t0 + 40),
               run("failed", t0 + 50, fp="a3", ended=t0 + 51)]
    fake_clock.set(t0 + 60)
    out = d(g, history, fake_clock.now(), fp="a4")
    assert isinstance(out, Deny) and out.code == "breaker_open" and "half-opens in 9m51s" in out.reason
    fake_clock.set(t0 + 51 + 600)
    assert breaker_state(g, history, fake_clock.now())[0] == "half_open"
    assert d(g, history, fake_clock.now(), fp="a4") == Allow(half_open=True)
    # while the trial runs, nothing else of this spec starts
    trial = run("running", fake_clock.now(), fp="a4")
    out = d(g, history + [trial], fake_clock.now(), fp="a5", in_flight=[trial])
    assert isinstance(out, Deny) and out.code == "breaker_open"
    # a failed trial opens it again; a success closes it
    fake_clock.advance(5)
    failed_trial = run("failed", trial.created_at, fp="a4", ended=fake_clock.now())
    assert breaker_state(g, history + [failed_trial], fake_clock.now())[0] == "open"
    ok_trial = run("verified", trial.created_at, fp="a4", ended=fake_clock.now())
    assert breaker_state(g, history + [ok_trial], fake_clock.now())[0] == "closed"


def test_breaker_success_in_between_resets_the_streak_and_none_disables_it(fake_clock):
    t0 = fake_clock.now()
    history = [run("failed", t0), run("failed", t0 + 1), run("verified", t0 + 2, ended=t0 + 3), run("failed", t0 + 4, ended=t0 + 5)]
    g = Guardrails(breaker={"failures": 2})
    assert breaker_state(g, history, t0 + 10)[0] == "closed"
    g_off = Guardrails(breaker=None)
    assert breaker_state(g_off, [run("failed", t0 + i, ended=t0 + i) for i in range(10)], t0 + 20)[0] == "closed"


def test_blast_radius_limits_distinct_targets_per_window(fake_clock):
    g = Guardrails(cooldown=0, blast_radius=2, window=600, breaker=None)
    t0 = fake_clock.now()
    history = [run("verified", t0, fp="a1", target="web-1", ended=t0 + 1), run("verified", t0 + 5, fp="a2", target="web-2", ended=t0 + 6)]
    fake_clock.advance(60)
    out = d(g, history, fake_clock.now(), fp="a3", target="web-3")
    assert isinstance(out, Deny) and out.code == "blast_radius"
    # a target already in the window does not widen the radius
    assert d(g, history, fake_clock.now(), fp="a4", target="web-1") == Allow()
    fake_clock.set(t0 + 601)
    assert d(g, history, fake_clock.now(), fp="a3", target="web-3") == Allow()
