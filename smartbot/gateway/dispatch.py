"""Step 6 of the message path: hand stored work to the workers.

With the local backend, and on a Celery worker, work goes to this process's job pool: a message
the webhook leased to this process is queued at once, together with a copy of what was stored (the
job need not read its row back). On a web node of a Celery cluster nothing is worked here: the
broker carries a wake-up for a worker instead. Either way the row is already durable: a hand-off
that is lost (a full backlog, a broker that is down, a process that dies) only waits for the next
sweep of some worker, never loses the message.

Never does the work itself and never waits for it.
"""
from __future__ import annotations

import logging

from ..jobs.celery_backend import WakeSender
from ..jobs.local import LocalRunner
from ..storage.queue import QueueRow
from ..messages import InboundMessage
from . import inbox
from .handoff import Handoff

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, runner: LocalRunner, works_here: bool, owner: str, handoff: Handoff,
                 wake: WakeSender | None) -> None:
        self.runner = runner
        self.works_here = works_here        # False on a web node of a Celery cluster
        self.owner = owner
        self.handoff = handoff
        self.wake = wake

    def lease_owner(self) -> str | None:
        """Whom the webhook leases a new message to: this process while its backlog is bounded;
        past that (or on a web node of a cluster) nobody, and it waits in the inbox for whichever
        worker is free."""
        return self.owner if self.works_here and self.runner.has_room() else None

    def accepted(self, row_id: int, leased: bool, msg: InboundMessage) -> None:
        """A message was stored as inbox row `row_id`, leased to this process when `leased`."""
        if leased:
            # A copy: the webhook's own request still reads the original.
            self.handoff.put(inbox.KIND, QueueRow(row_id, self.owner, msg.conversation_key, msg.channel),
                             InboundMessage.from_record(msg.to_record()))
            self.runner.submit(inbox.KIND, row_id)
        elif self.wake is not None:
            self.wake(inbox.KIND, row_id)

    def soon(self, kind: str, row_id: int) -> None:
        """Hand a stored job (an approved request, a workflow run) to the workers; never run in a
        web request: this process's pool, or on a web node of a cluster a wake-up for a worker
        (whose sweep also finds it)."""
        if self.works_here:
            self.runner.dispatch(kind, [row_id])
        elif self.wake is not None:
            self.wake(kind, row_id)
