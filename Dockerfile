# The project image: the code location plus everything its engines need, offline models included.
# Used for the user-code gRPC server, the webserver/daemon and (production) every launched run.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    SHORTS_DATA_DIR=/opt/dagster/data \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Debian's ffmpeg (libass, libx264) and fonts for the renderer; espeak-ng is the voice fallback.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg fonts-dejavu-core espeak-ng ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/dagster/app

# Dependencies first (cached layer), exactly as locked. Compiled to bytecode here, because
# PYTHONDONTWRITEBYTECODE stops Python caching it later: every run and step process would otherwise
# recompile dagster & co. on import (measured: 7.3 s -> 2.4 s per process).
COPY pyproject.toml uv.lock README.md ./
RUN pip install --no-cache-dir "uv==0.13.9" \
    && uv sync --frozen --no-dev --no-install-project --compile-bytecode

COPY definitions.py workspace.yaml ./
COPY cli ./cli
COPY pipeline_assets ./pipeline_assets
COPY resources ./resources
COPY sensors ./sensors
# The per-stage Kubernetes requests the k8s executor reads (SHORTS_STEP_EXECUTION=k8s).
COPY deploy/helm/step-resources.yaml ./deploy/helm/step-resources.yaml
# The project itself (editable: the code stays here) gives the `shorts` command; then uv is not needed.
RUN uv sync --frozen --no-dev --compile-bytecode \
    && pip uninstall -y uv \
    && python -m compileall -q definitions.py cli pipeline_assets resources sensors
COPY dagster.yaml ${DAGSTER_HOME}/dagster.yaml

# Use Debian's ffmpeg rather than the wheel's static one inside the image.
ENV FFMPEG_BINARY=/usr/bin/ffmpeg

RUN mkdir -p ${SHORTS_DATA_DIR} && useradd --create-home --uid 1000 dagster \
    && chown -R dagster ${SHORTS_DATA_DIR} ${DAGSTER_HOME}
USER dagster

EXPOSE 4000
# Default: serve the code location over gRPC; webserver and daemon override the command.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "definitions"]
