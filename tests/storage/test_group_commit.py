"""Group commit: concurrent writers share transactions; one failing write does not sink the others."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa


def _insert(key: str):
    return lambda conn: conn.execute(sa.text("INSERT INTO settings (key, value, updated_at) VALUES (:k, '1', 0)"),
                                     {"k": key}).rowcount


def test_many_threads_all_commit_in_fewer_transactions(db):
    def worker(t: int) -> None:
        for i in range(100):
            assert db.run_write(_insert(f"t{t}-{i}")) == 1

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM settings WHERE key LIKE 't%'")).scalar() == 800
    if db.is_sqlite:        # PostgreSQL takes concurrent writers itself; SQLite's writers share commits
        assert db._committer.writes == 800
        assert db._committer.batches < 800


def test_a_failing_write_fails_alone(db):
    db.run_write(_insert("dup"))
    results, errors = [], []
    barrier = threading.Barrier(6)

    def worker(key: str) -> None:
        barrier.wait()
        try:
            results.append(db.run_write(_insert(key)))
        except sa.exc.IntegrityError as exc:
            errors.append(exc)

    keys = ["dup", "k1", "k2", "k3", "k4", "k5"]
    threads = [threading.Thread(target=worker, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1 and results == [1] * 5
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM settings WHERE key LIKE 'k%'")).scalar() == 5


def test_errors_reach_the_caller(db):
    with pytest.raises(sa.exc.DBAPIError):
        db.run_write(lambda conn: conn.execute(sa.text("SELECT * FROM no_such_table")))
