# syntax=docker/dockerfile:1
# smsbot: a small image, non-root, migrations on start, health check.
#   docker build -t smsbot .
#   docker run -e SLACK_BOT_TOKEN=… -e SLACK_SIGNING_SECRET=… -p 3000:3000 -v smsbot:/data smsbot

FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never PIP_NO_CACHE_DIR=1
RUN pip install "uv==0.13.8"
WORKDIR /app
# Dependencies first (cached while only the code changes), exactly as locked.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY migrations ./migrations
COPY bot ./bot
# UV_COMPILE_BYTECODE compiles the dependencies; the project itself is an editable install, so
# compile it too: the image runs as a user that cannot write __pycache__ (issue 10: quick CLI).
RUN uv sync --frozen --no-dev && .venv/bin/python -m compileall -q bot migrations

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin smsbot \
    && mkdir /data && chown smsbot /data
WORKDIR /app
# Same path as in the build stage: the virtualenv's project link points at /app.
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/smsbot.db \
    HOST=0.0.0.0 \
    PORT=3000
# Numeric, so the runtime (and Kubernetes' runAsNonRoot) can tell it is not root.
USER 10001:10001
VOLUME ["/data"]
EXPOSE 3000
# /healthz answers in both modes (in Socket Mode it is the only HTTP route besides /metrics).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
# Exec form: smsbot is PID 1 and gets SIGTERM itself (it stops gracefully, see README).
# `serve` migrates on start; replicas starting at once take turns (advisory lock).
CMD ["smsbot", "serve"]
