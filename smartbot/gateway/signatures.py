"""Signatures good for one body: the ledger of webhook signatures that do not cover the body.

DingTalk signs only a callback's timestamp, so one captured (timestamp, sign) pair would vouch
for any body for as long as the timestamp passes the freshness window. Each verified pair is
recorded here with a digest of the body it came with, in the database that every worker and node
shares: the same pair with the same body again is the same request (a retry, which the inbox then
drops as a duplicate); with another body it is a forgery, refused with 401. Rows are kept until
the signature has left the window (the window check refuses it after that) and swept now and then
by whichever process is writing. Stores digests only, never a body or a signature itself.
"""
from __future__ import annotations

import hashlib
import hmac
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..channels.base import SingleUse
from ..storage.db import Database, storage_problem
from ..errors import SignatureError, StorageUnavailable
from ..storage.tables import SeenSignature

SWEEP_EVERY = 60.0      # seconds between two sweeps of expired rows by one process

_seen = SeenSignature.__table__


class ReplayedSignature(SignatureError):
    """A signature that already came with another body."""

    metric_reason = "replay"


class SignatureLedger:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._next_sweep = 0.0

    def claim(self, channel: str, use: SingleUse) -> None:
        """Record `use`, or ReplayedSignature when its signature came before with another body."""
        now = time.time()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_EVERY
        key = hashlib.sha256(use.signature.encode("utf-8")).hexdigest()
        try:
            fresh = self.db.run_write(lambda conn: self._record(conn, channel, key, use, now, sweep))
        except Exception as exc:
            reason = storage_problem(exc)
            if reason is None:
                raise
            raise StorageUnavailable(reason) from None
        if not fresh:
            raise ReplayedSignature("replayed signature: this timestamp and sign already came with another body "
                                    "(the platform signs only the timestamp, so each pair is accepted once)")

    def _record(self, conn: Connection, channel: str, key: str, use: SingleUse, now: float, sweep: bool) -> bool:
        """True when the signature is new here, or came before with this very body."""
        if sweep:
            conn.execute(sa.delete(_seen).where(_seen.c.expires_at < now))
        inserted = conn.execute(self.db.insert_ignore(_seen).values(
            channel=channel, signature=key, body_digest=use.body_digest, expires_at=use.keep_until,
        ).returning(_seen.c.signature)).first()
        if inserted is not None:
            return True
        where = (_seen.c.channel == channel) & (_seen.c.signature == key)
        row = conn.execute(sa.select(_seen.c.body_digest, _seen.c.expires_at).where(where)).first()
        if row is None or row.expires_at < now:
            # Left over from a longer window than today's: this use is the one that counts.
            conn.execute(sa.update(_seen).where(where).values(body_digest=use.body_digest,
                                                              expires_at=use.keep_until))
            return True
        return hmac.compare_digest(row.body_digest, use.body_digest)
