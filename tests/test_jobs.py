"""Jobs claimed in the database: one replica runs a job at a time, a dead holder's lease expires,
and the CLI shows and runs them (`jobs list|run`, `worker --once`)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import update

from bot.jobs import claims
from bot.jobs.registry import Job, JobContext, Registry, core_jobs
from bot.jobs.runner import JobRunner
from bot.store import audit
from bot.store.db import Database
from bot.store.models import JobRun


def _blocking_job(started: threading.Event, release: threading.Event, ran: list[int]) -> Job:
    def run(_: JobContext) -> str:
        ran.append(1)
        started.set()
        assert release.wait(20)
        return "done"

    return Job("blocker", timedelta(minutes=5), run, "test job")


def test_a_job_runs_on_one_replica_at_a_time(database: Database, db_url: str) -> None:
    started, release, ran = threading.Event(), threading.Event(), []
    job = _blocking_job(started, release, ran)
    # Four "replicas": each its own engine and owner, as separate processes would be.
    replicas = [Database(db_url) for _ in range(4)]
    runners = [JobRunner(None, db, Registry({job.name: job})) for db in replicas]
    first = threading.Thread(target=lambda: runners[0].run(job, force=True))
    first.start()
    assert started.wait(20)
    # While it runs, nobody else gets it, forced or not.
    others = [r.run(job, force=True) for r in runners[1:]]
    assert [o.ran for o in others] == [False, False, False]
    release.set()
    first.join(20)
    assert ran == [1]
    # Finished: due again only after `every`; a forced run (jobs run NAME) takes it now.
    assert not runners[1].run(job).ran
    release.set()
    assert runners[2].run(job, force=True).ran and ran == [1, 1]
    state = claims.states(database)["blocker"]
    assert state.runs == 2 and state.last_ok and state.last_result == "done"
    assert state.running_on is None and state.last_owner == runners[2].owner
    for db in replicas:
        db.dispose()


def test_a_dead_holders_lease_expires(database: Database) -> None:
    claims.ensure_rows(database, ["orphan"])
    assert claims.claim(database, "orphan", "dead-process", timedelta(minutes=2), force=True)
    assert not claims.claim(database, "orphan", "other", timedelta(minutes=2), force=True)
    with database.session() as session:
        session.execute(
            update(JobRun)
            .where(JobRun.name == "orphan")
            .values(lease_until=audit.utc_now() - timedelta(seconds=1))
        )
    assert claims.claim(database, "orphan", "other", timedelta(minutes=2), force=True)


def test_a_failing_job_is_recorded_and_the_next_one_still_runs(database: Database) -> None:
    def broken(_: JobContext) -> str:
        raise RuntimeError("secret-looking text that must not be stored")

    registry = Registry()
    registry.add(Job("broken", timedelta(seconds=1), broken, "fails"))
    registry.add(Job("fine", timedelta(seconds=1), lambda _: "fine", "works"))
    results = JobRunner(None, database, registry).run_all(force=True)
    assert [(r.name, r.ok) for r in results] == [("broken", False), ("fine", True)]
    state = claims.states(database)["broken"]
    assert state.last_ok is False and state.last_result == "failed: RuntimeError"


def test_core_jobs_are_declared_beside_their_domain() -> None:
    jobs = core_jobs()
    assert {j.name for j in jobs} == {
        "audit_checkpoint",
        "dispatch",
        "expire_approvals",
        "poll_delivery",
        "reconcile_unknown",
        "send_batches",
        "settle_stale_sends",
    }
    assert all(
        j.run.__module__.startswith(("bot.lifecycle.", "bot.audit_anchor", "bot.batches."))
        for j in jobs
    )


def test_jobs_cli_lists_and_runs(smsbot) -> None:  # type: ignore[no-untyped-def]
    listed = smsbot("jobs", "list")
    assert listed.code == 0, listed.err
    assert "poll_delivery" in listed.out and "last run: never" in listed.out
    ran = smsbot("jobs", "run", "expire_approvals")
    assert ran.code == 0 and ran.out.strip() == "expire_approvals: ok: 0 expired"
    listed = smsbot("jobs", "list")
    assert "(ok): 0 expired; runs: 1" in listed.out
    unknown = smsbot("jobs", "run", "nope")
    assert unknown.code == 2 and "no job 'nope'; the jobs are: audit_checkpoint, dispatch" in (
        unknown.err
    )
    assert "Traceback" not in unknown.err


def test_worker_once_runs_every_job(smsbot) -> None:  # type: ignore[no-untyped-def]
    once = smsbot("worker", "--once")
    assert once.code == 0, once.err
    names = [line.split(":")[0] for line in once.out.splitlines()]
    assert names == [
        "audit_checkpoint",
        "dispatch",
        "expire_approvals",
        "poll_delivery",
        "reconcile_unknown",
        "send_batches",
        "settle_stale_sends",
    ]
