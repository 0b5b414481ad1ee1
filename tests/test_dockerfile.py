"""The Dockerfile cannot be built here (no Docker engine): check what can be checked statically."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_copied_sources_exist() -> None:
    for line in DOCKERFILE.splitlines():
        match = re.match(r"COPY (?!--from)(.+) \S+$", line)
        if match:
            for source in match.group(1).split():
                assert (ROOT / source).exists(), source


def test_runs_as_non_root_with_health_check_and_migrations() -> None:
    final_stage = DOCKERFILE.split("\nFROM ")[-1]
    assert re.search(r"^USER smsbot$", final_stage, re.M)
    assert "HEALTHCHECK" in final_stage and "/healthz" in final_stage
    assert "smsbot db upgrade && exec smsbot serve" in final_stage
    assert "uv sync --frozen --no-dev" in DOCKERFILE  # the locked dependencies, no dev tools


def test_pinned_uv_matches_ci() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    pinned = re.search(r"uv==([\d.]+)", DOCKERFILE)
    assert pinned and f"uv=={pinned.group(1)}" in ci
