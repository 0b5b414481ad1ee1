"""The core's background jobs from the command line: `smsbot worker [--once]` runs them (for
CLI-only deployments, or workers beside `serve`), `smsbot jobs list|run NAME` shows and runs
them. Runs are claimed in the database: any number of workers and `serve` processes may run."""

from __future__ import annotations

from datetime import datetime

import click

from bot.cli.common import EXIT_REFUSED, EXIT_USAGE, Fail, _runtime, cli, say
from bot.config import secret_value
from bot.jobs import claims
from bot.jobs.runner import RunResult
from bot.runtime import Runtime
from bot.signals import StopSignal

#: How long `worker --once` waits for the sends it started.
ONCE_SEND_WAIT_SECONDS = 60.0


def add_slack_renderer(runtime: Runtime) -> bool:
    """With a Slack bot token configured, this process also renders the audit stream in Slack
    (so a CLI-only worker posts approvals and outcomes). False without a token."""
    token = secret_value(runtime.settings.SLACK_BOT_TOKEN)
    if not token:
        return False
    # Imported here: the Slack SDK is only needed when Slack is configured.
    from bot.slack.app import web_client
    from bot.slack.notify import Notifier
    from bot.slack.render import SlackRenderer

    client = web_client(runtime.settings.SLACK_API_URL, token)
    renderer = SlackRenderer(
        runtime.db, Notifier(client), audit_channel=runtime.settings.SMSBOT_AUDIT_CHANNEL
    )
    runtime.jobs.registry.add(renderer.job())
    return True


def _report(results: list[RunResult]) -> bool:
    ok = True
    for result in results:
        mark = "ok" if result.ok else "FAILED"
        say(
            f"{result.name}: {mark}: {result.summary}"
            if result.ran
            else f"{result.name}: {result.summary}"
        )
        ok = ok and result.ok
    return ok


@cli.command()
@click.option("--once", is_flag=True, help="Run every job once now, wait for its sends, exit.")
def worker(once: bool) -> None:
    """Run the background jobs: sending and recovering requests, expiring approvals, settling
    and reconciling unknown outcomes, polling delivery, and (with SLACK_BOT_TOKEN) rendering
    events in Slack. Stops on SIGTERM/SIGINT."""
    with _runtime(upgrade_behind=True) as runtime:
        add_slack_renderer(runtime)
        if once:
            results = runtime.jobs.run_all(force=True)
            runtime.sender.drain(ONCE_SEND_WAIT_SECONDS)
            # What the sends and the other jobs recorded is shown too.
            render = runtime.jobs.registry.get("slack_render")
            if render is not None:
                results.append(runtime.jobs.run(render, force=True))
            if not _report(results):
                raise Fail("a job failed (see above)", EXIT_REFUSED)
            return
        stop = StopSignal()
        runtime.start_jobs()
        say(f"worker running {len(runtime.jobs.registry.jobs)} jobs; stop with Ctrl-C")
        stop.wait()
        runtime.jobs.stop()
        if not runtime.sender.drain(runtime.settings.SMSBOT_SHUTDOWN_GRACE_SECONDS):
            runtime.service.settle_in_flight("the worker was stopped during the send")


@cli.group()
def jobs() -> None:
    """The background jobs: what they do, how they last ran; run one now."""


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "never"


@jobs.command("list")
def jobs_list() -> None:
    """Each job with its last run, result, and when it is due next."""
    with _runtime() as runtime:
        add_slack_renderer(runtime)
        states = claims.states(runtime.db)
        for job in runtime.jobs.registry:
            state = states.get(job.name)
            say(f"{job.name}  (every {job.every.total_seconds():g} s) {job.description}")
            if state is None or state.last_finished_at is None:
                say("    last run: never")
            else:
                result = "ok" if state.last_ok else "FAILED"
                say(
                    f"    last run: {_when(state.last_finished_at)} UTC on {state.last_owner} "
                    f"({result}): {state.last_result}; runs: {state.runs}"
                )
                say(f"    next due: {_when(state.next_due_at)} UTC")
            if state is not None and state.running_on:
                say(f"    running now on {state.running_on}")


@jobs.command("run")
@click.argument("name")
def jobs_run(name: str) -> None:
    """Run one job now (claimed like any run: refused while another process runs it)."""
    with _runtime() as runtime:
        add_slack_renderer(runtime)
        job = runtime.jobs.registry.get(name)
        if job is None:
            known = ", ".join(j.name for j in runtime.jobs.registry)
            raise Fail(f"no job {name!r}; the jobs are: {known}", EXIT_USAGE)
        result = runtime.jobs.run(job, force=True)
        if name == "dispatch":
            runtime.sender.drain(ONCE_SEND_WAIT_SECONDS)
        if not result.ran:
            raise Fail(f"{name}: not run: another process is running it now", EXIT_REFUSED)
        _report([result])
        if not result.ok:
            raise Fail(f"{name} failed", EXIT_REFUSED)
