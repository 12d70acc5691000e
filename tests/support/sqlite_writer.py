"""A separate process that writes to a SQLite file the way another program would: plain sqlite3,
write transactions held open for a while (BEGIN IMMEDIATE ... sleep ... COMMIT), over and over.

    python -m tests.support.sqlite_writer DB_PATH SECONDS

Prints one JSON line: {"commits": n, "errors": [...]}. Every committed row carries its number, so
the caller can check none was lost.
"""
from __future__ import annotations

import itertools
import json
import sqlite3
import sys
import time

HOLDS = (0.05, 0.2, 0.05, 0.5)          # seconds each transaction keeps the write lock


def run(path: str, seconds: float) -> dict:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS writer_rows (n INTEGER PRIMARY KEY, at REAL)")
    commits, errors = 0, []
    deadline = time.monotonic() + seconds
    for n, hold in zip(itertools.count(), itertools.cycle(HOLDS)):
        if time.monotonic() >= deadline:
            break
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO writer_rows (n, at) VALUES (?, ?)", (n, time.time()))
            time.sleep(hold)
            conn.execute("COMMIT")
            commits += 1
        except sqlite3.Error as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        time.sleep(0.02)
    conn.close()
    return {"commits": commits, "errors": errors}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], float(sys.argv[2]))))
