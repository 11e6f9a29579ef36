# job-orchestrator: one image for the API server and for workers.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir '.[server]'
COPY examples ./examples

RUN useradd --system --uid 10001 orchestrator
USER orchestrator
EXPOSE 8000
# Bind all interfaces inside the container; the server refuses to start that way without
# ORCHESTRATOR_API_KEYS, which docker-compose.yml sets.
ENV ORCHESTRATOR_HOST=0.0.0.0 ORCHESTRATOR_PORT=8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["orchestrator", "server"]
