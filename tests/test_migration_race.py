"""Replicas starting at once on a fresh PostgreSQL database: every `db upgrade` succeeds."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import _pg_exec, _pg_url_for, require_postgresql


@pytest.mark.slow
def test_four_parallel_upgrades_on_a_fresh_database_ten_rounds() -> None:
    require_postgresql()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMSBOT_", "M2M_"))}
    for round_ in range(10):
        name = f"smsbot_race_{os.getpid()}_{round_}"
        _pg_exec(f'CREATE DATABASE "{name}"')
        try:
            url = _pg_url_for(name)
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "bot", "db", "upgrade"],
                    env={**env, "DATABASE_URL": url},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(4)
            ]
            results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
            assert all(code == 0 for code, _ in results), (round_, results)
        finally:
            _pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
