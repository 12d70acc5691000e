"""The scale-out job backend: Celery with a Redis broker hands work to `smartbot worker` processes.

Celery carries only "row N is ready" wake-ups; the rows, their leases and unique keys stay in the
database. A worker that receives a wake-up claims the row (only if it is first in line for its
conversation or chat) and runs it in its own job pool; follow-ups it leases itself stay with it.
So a wake-up delivered twice, lost with the broker, or received by a worker that then dies never
loses a message or answers it twice: the sweeper of every worker finds queued rows that are due and
leases whose owner is gone, whatever the broker did.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from ..errors import ConfigError

log = logging.getLogger(__name__)

WAKE_TASK = "smartbot.wake"


def make_celery(broker_url: str, queue: str) -> Any:
    try:
        from celery import Celery
    except ImportError:
        raise ConfigError("jobs.backend", "\"celery\" needs Celery and Redis installed",
                          "pip install 'smartbot[scale]' (or set jobs.backend = \"local\")") from None
    app = Celery("smartbot", broker=broker_url)
    app.conf.update(
        task_default_queue=queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=8,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options={"visibility_timeout": 3600, "socket_timeout": 3, "socket_connect_timeout": 3},
        worker_hijack_root_logger=False,
    )
    return app


class WakeSender:
    """Web nodes (and workers handing work out) tell the cluster a row is ready."""

    def __init__(self, celery: Any) -> None:
        self._celery = celery
        self._queue = celery.conf.task_default_queue

    def __call__(self, kind: str, row_id: int, delay: float = 0.0) -> None:
        try:
            self._celery.send_task(WAKE_TASK, args=[kind, row_id], queue=self._queue,
                                   countdown=delay if delay > 0 else None)
        except Exception as exc:   # the broker is down: the row is stored, a sweeper will find it
            log.warning("could not hand %s row %s to the broker (%s); the sweeper will pick it up",
                        kind, row_id, type(exc).__name__)


def register_wake_task(celery: Any, on_wake: Callable[[str, int], None]) -> None:
    @celery.task(name=WAKE_TASK, ignore_result=True)
    def wake(kind: str, row_id: int) -> None:
        on_wake(kind, int(row_id))


def run_worker(celery: Any, concurrency: int) -> None:
    """Consume wake-ups until Celery is told to stop (SIGTERM: warm shutdown)."""
    celery.worker_main(["worker", "--pool=threads", f"--concurrency={concurrency}", "--loglevel=INFO",
                        "-Q", celery.conf.task_default_queue, "--without-gossip", "--without-mingle"])
