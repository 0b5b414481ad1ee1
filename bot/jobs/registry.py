"""The job registry: each job is declared beside its domain (`bot.lifecycle.*`) with `job(...)`;
front ends add their own consumers (the Slack renderer) with `Registry.add`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runtime import Runtime


@dataclass(frozen=True)
class JobContext:
    runtime: Runtime
    #: Run as if everything were due (`smsbot jobs run NAME`, `smsbot worker --once`): per-item
    #: schedules such as the delivery back-off are ignored; cut-offs and deadlines still hold.
    force: bool = False


#: A job's run: does its work and returns a one-line summary for `smsbot jobs list`.
JobFn = Callable[[JobContext], str]


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: JobFn
    description: str
    #: Runs promptly when the core says there is work (`JobRunner.wake`), not only on schedule.
    wakeable: bool = False


@dataclass
class Registry:
    jobs: dict[str, Job] = field(default_factory=dict)

    def add(self, job: Job) -> Job:
        if job.name in self.jobs:
            raise ValueError(f"job {job.name!r} is declared twice")
        self.jobs[job.name] = job
        return job

    def get(self, name: str) -> Job | None:
        return self.jobs.get(name)

    def __iter__(self) -> Iterator[Job]:
        return iter(sorted(self.jobs.values(), key=lambda j: j.name))

    def run_more_often(self, name: str, every: timedelta) -> None:
        """Run `name` at least every `every` (a setting asks for finer steps than its default)."""
        job = self.jobs[name]
        if every < job.every:
            self.jobs[name] = replace(job, every=every)

    def copy(self) -> Registry:
        return Registry(dict(self.jobs))


#: The core's jobs, filled in by `job(...)` in the domain modules (imported by `core_jobs`).
CORE = Registry()


def job(
    name: str, every: timedelta, description: str, *, wakeable: bool = False
) -> Callable[[JobFn], JobFn]:
    """Declare a core job beside the code it runs."""

    def declare(fn: JobFn) -> JobFn:
        CORE.add(Job(name, every, fn, description, wakeable))
        return fn

    return declare


def core_jobs() -> Registry:
    """Every core job (importing the modules that declare them), as a fresh registry."""
    from bot import audit_anchor  # noqa: F401
    from bot.batches import run  # noqa: F401
    from bot.lifecycle import delivery, dispatch, expiry, reconcile, settle  # noqa: F401

    return CORE.copy()
