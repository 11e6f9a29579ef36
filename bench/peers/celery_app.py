"""The Celery app and its no-op task (imported by the worker process)."""

from __future__ import annotations

import os

from celery import Celery

from bench.peers.celery_peer import BROKER_ENV, PREFETCH_MULTIPLIER, QUEUE, default_broker_url
from bench.probe import report

app = Celery("bench", broker=os.environ.get(BROKER_ENV, default_broker_url()))
app.conf.update(
    # Results off, as the issue asks: no result backend round trip per task.
    task_ignore_result=True,
    result_backend=None,
    task_default_queue=QUEUE,
    # Prefetch matters most for short tasks (Optimizing guide); value tuned in celery_peer.
    worker_prefetch_multiplier=PREFETCH_MULTIPLIER,
    # One pooled broker connection per concurrent producer thread.
    broker_pool_limit=32,
    broker_connection_retry_on_startup=True,
    worker_disable_rate_limits=True,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")  # type: ignore[untyped-decorator]  # celery ships no types
def noop(seq: int) -> None:
    report(seq)
