"""Where the idle memory of gunicorn's workers goes: which of the master's writable pages each worker
still shares with it and which it has copied (copy-on-write), read from /proc/<pid>/pagemap.

A page both workers copied exists three times (the master keeps the original); a page only one
worker copied exists twice. Copied pages that differ from the master's in a few words only were
copied for a reference count or an interpreter counter, not for data the worker changed.

    sudo python bench/cow_pages.py        # page frame numbers are visible to root only
"""
from __future__ import annotations

import os
import struct
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deployment  # noqa: E402
import footprint  # noqa: E402

PAGE = 4096
FEW_WORDS = 8       # a page differing in fewer 8-byte words than this was copied for counters


def writable_anonymous(pid: int) -> list[tuple[int, int]]:
    ranges = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        name = fields[5] if len(fields) > 5 else ""
        if name in ("", "[heap]") and "w" in fields[1]:
            low, high = (int(x, 16) for x in fields[0].split("-"))
            ranges.append((low, high))
    return ranges


def frames(pid: int, low: int, high: int) -> list[int | None]:
    """The physical frame of each page in [low, high), None when not resident."""
    with open(f"/proc/{pid}/pagemap", "rb") as fh:
        fh.seek(low // PAGE * 8)
        data = fh.read((high - low) // PAGE * 8)
    return [(v & ((1 << 55) - 1)) if v >> 63 else None for (v,) in struct.iter_unpack("Q", data)]


def differing_words(master_mem, worker_mem, address: int) -> int:  # noqa: ANN001 - open /proc/<pid>/mem files
    master_mem.seek(address)
    worker_mem.seek(address)
    ours, theirs = struct.unpack("512Q", master_mem.read(PAGE)), struct.unpack("512Q", worker_mem.read(PAGE))
    return sum(1 for a, b in zip(ours, theirs) if a != b)


def split(master: int, workers: list[int]) -> dict[str, float]:
    """MB of the master's resident writable anonymous pages by how many workers copied them, and
    how many of the copies differ from the master's page in fewer than FEW_WORDS words."""
    pages: Counter[str] = Counter()
    mems = {pid: open(f"/proc/{pid}/mem", "rb") for pid in (master, *workers)}  # noqa: SIM115
    try:
        for low, high in writable_anonymous(master):
            theirs = [frames(pid, low, high) for pid in workers]
            for i, own in enumerate(frames(master, low, high)):
                if own is None:
                    continue
                copied = [pid for pid, column in zip(workers, theirs) if column[i] not in (None, own)]
                pages[f"copied by {len(copied)} of {len(workers)} workers"] += 1
                for pid in copied:
                    pages["copies"] += 1
                    if differing_words(mems[master], mems[pid], low + i * PAGE) < FEW_WORDS:
                        pages[f"copies differing in < {FEW_WORDS} words"] += 1
    finally:
        for mem in mems.values():
            mem.close()
    return {key: round(count * PAGE / 2**20, 1) for key, count in sorted(pages.items())}


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("page frame numbers are visible to root only")
    import tempfile

    holder: dict = {}

    def measure(root: int) -> None:
        pids = footprint.process_tree(root)
        holder["pss_mb"] = round(footprint.pss_mb(pids), 1)
        holder["pages_mb"] = split(pids[0], pids[1:])

    deployment.smartbot_idle(Path(tempfile.mkdtemp(prefix="smartbot-cow-")), inspect=measure)
    print(holder)


if __name__ == "__main__":
    main()
