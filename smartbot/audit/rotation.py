"""`smartbot audit rotate-key`: a new audit key in the key file, and the marker row that moves the
chain to it, in one write transaction under the chain's head lock (when the chain was under the key
derived from the signing key, the marker waits for the first start with [audit] key_file set).

Built so that an operator cannot lose verifiability by accident: every key stays in the file (the
file is rewritten whole, atomically, mode 600); when the chain is under the key derived from the
signing key, that key is written to the file first, so the signing key may change afterwards;
and a chain under a key nobody holds any more moves on only when the operator says the key is
lost (`--previous-key-lost`), which the marker records. Never prints or logs a key.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from . import chain, keys
from .keys import AuditKeyError


@dataclass
class Rotation:
    seq: int                    # the marker row (0: written by the next start, see rotate)
    key_id: str                 # the key new rows are signed with
    previous_key_id: str
    key_file: str = ""
    keys_kept: int = 0
    saved_derived: bool = False


def rotate(db: Any, signing_key: str, key_file: str, previous_key_lost: bool = False) -> Rotation:
    """Move the chain to a new key (a random one in `key_file`, or the signing key's own when no
    file is set and the previous key is lost). `db` is a smartbot.storage.db.Database."""
    derived = keys.derived_key(signing_key)
    with db.write() as conn:
        head_key = chain.lock_head(conn)
        if key_file:
            held = keys.read_key_file(key_file) if os.path.exists(key_file) else []
            saved = _keep_previous(held, head_key, derived, previous_key_lost, key_file)
            ring = keys.Keyring([*held, keys.new_key()], key_file)
            keys.write_key_file(key_file, list(ring.keys.values()))
        else:
            if head_key in ("", derived.id):
                raise AuditKeyError("audit.key_file", "is not set: the audit key is derived from the signing key, and "
                                    "changes only with it", "set [audit] key_file to a path beside your secrets "
                                    "(e.g. /etc/smartbot/audit.keys) and run this again")
            if not previous_key_lost:
                raise chain.unavailable(head_key, keys.Keyring([derived]))
            ring, saved = keys.Keyring([derived]), False
        keys.install(ring)
        # Moving from the derived key to the file: processes still running without the file keep
        # signing with the derived key; the first start with [audit] key_file writes the marker.
        seq = 0 if saved else chain.rotate(conn, ring.current, previous_key_lost)
    return Rotation(seq, ring.current.id, head_key or chain.LEGACY, key_file, len(ring.keys), saved)


def _keep_previous(held: list[keys.AuditKey], head_key: str, derived: keys.AuditKey, previous_key_lost: bool,
                   key_file: str) -> bool:
    """Make sure the key the chain is under now stays in the file; True when it was the derived key."""
    if not head_key or any(k.id == head_key for k in held) or head_key == derived.id:
        if previous_key_lost:
            raise AuditKeyError("audit.key_file", f"the audit key the chain is under ({head_key or 'none'}) is not "
                                "lost", "run `smartbot audit rotate-key` without --previous-key-lost")
        if head_key == derived.id and all(k.id != head_key for k in held):
            held.append(derived)
            return True
        return False
    if not previous_key_lost:
        raise chain.unavailable(head_key, keys.Keyring(held or [derived], key_file))
    return False
