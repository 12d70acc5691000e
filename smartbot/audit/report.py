"""What `smartbot audit verify` and `rotate-key` print: the chain's stretches in words, the legacy
rows owned up to. Plain text from plain results; never a key, only key ids."""
from __future__ import annotations

from .chain import LEGACY, Stretch, VerifyResult
from .rotation import Rotation


def verified(result: VerifyResult) -> str:
    lines = [f"audit chain OK: {result.rows} rows"]
    if result.legacy_rows:
        lines.append(f"{result.legacy_rows} legacy rows: written before the keyed chain, with plain SHA-256: "
                     "not tamper-proof against database writers")
    if result.unverifiable_rows:
        lines.append(f"{result.unverifiable_rows} rows cannot be verified: their audit key was declared lost")
    lines.extend("  " + _stretch(s) for s in result.stretches)
    lines.append(f"new rows are signed with audit key {result.current_key} ({result.key_source})")
    return "\n".join(lines)


def _stretch(stretch: Stretch) -> str:
    where = f"row {stretch.first}" if stretch.first == stretch.last else f"rows {stretch.first}-{stretch.last}"
    if stretch.key_id == LEGACY:
        return f"{where}: legacy (plain SHA-256)"
    if stretch.lost:
        return f"{where}: audit key {stretch.key_id}, declared lost (links checked, contents not)"
    return f"{where}: audit key {stretch.key_id}"


def rotation(done: Rotation) -> str:
    if done.seq:
        lines = [f"audit key rotated: row {done.seq} moves the chain from {done.previous_key_id} to {done.key_id}"]
    else:
        lines = [f"audit key {done.key_id} added: the chain moves to it from {done.previous_key_id} (the key derived "
                 "from the signing key) when SmartBot next starts with [audit] key_file set; restart it now"]
    if done.key_file:
        lines.append(f"{done.keys_kept} keys kept in {done.key_file}: keep the file (and back it up); every row is "
                     "verified with the key that signed it")
    if done.saved_derived:
        lines.append("the key derived from the signing key is kept in the file too: the signing key may change now")
    return "\n".join(lines)
