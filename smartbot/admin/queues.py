"""The queues page: the inbox's and outbox's depth, oldest entry and failed entries, and retrying or
dropping a failed one (ops/queues.py does it and audits it, as for the API)."""
from __future__ import annotations

import time

from ..i18n import t
from ..ops import queues
from ..web.context import current_runtime
from .base import bp, done, locale, page, render

PERMISSION = "admin:queues"
LISTED = 100


@bp.get("/queues")
@page(PERMISSION)
def queues_page(principal):
    db = current_runtime().db
    return render("admin/queues.html", principal=principal, overview=queues.overview(db), now=time.time(),
                  failed={name: queues.failed(db, name, LISTED) for name in queues.QUEUES},
                  retryable=queues.RETRYABLE, listed=LISTED)


@bp.post("/queues/<which>/<int:row_id>/retry")
@page(PERMISSION)
def queues_retry(principal, which: str, row_id: int):
    queues.retry(current_runtime(), principal, which, row_id)
    return done(t("ops.queues.retried", locale(), id=row_id), "admin.queues_page")


@bp.post("/queues/<which>/<int:row_id>/drop")
@page(PERMISSION)
def queues_drop(principal, which: str, row_id: int):
    queues.drop(current_runtime(), principal, which, row_id)
    return done(t("ops.queues.dropped", locale(), id=row_id), "admin.queues_page")
