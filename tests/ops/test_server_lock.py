"""One process per server runs the monitors: the flock on the monitor lock file decides which."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from smartbot.ops.server_lock import ServerLock, lock_path


def test_one_holder_at_a_time_and_the_next_takes_over(tmp_path):
    path = str(tmp_path / "db.sqlite.monitors.lock")
    first, second = ServerLock(path), ServerLock(path)      # two open files: flock tells them apart
    assert first.held()
    assert first.held()                                     # still ours on the next check
    assert not second.held()
    first.release()
    assert second.held()
    assert not first.held()


def test_the_lock_of_a_process_that_died_is_free(tmp_path):
    path = str(tmp_path / "monitors.lock")
    holder = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.getcwd()!r})
        from smartbot.ops.server_lock import ServerLock
        assert ServerLock({path!r}).held()
        os._exit(0)                                          # no release: the kernel drops the lock
    """)
    subprocess.run([sys.executable, "-c", holder], check=True, timeout=30)
    assert ServerLock(path).held()


def test_a_held_lock_keeps_a_second_process_out(tmp_path):
    path = str(tmp_path / "monitors.lock")
    mine = ServerLock(path)
    assert mine.held()
    probe = f"import sys; sys.path.insert(0, {os.getcwd()!r}); from smartbot.ops.server_lock import ServerLock; " \
            f"print(ServerLock({path!r}).held())"
    out = subprocess.run([sys.executable, "-c", probe], check=True, timeout=30, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
    mine.release()


def test_without_a_usable_lock_file_every_process_keeps_monitoring(tmp_path, caplog):
    lock = ServerLock(str(tmp_path / "missing-folder" / "monitors.lock"))
    assert lock.held()
    assert lock.held()
    assert sum("runs the monitors too" in r.getMessage() for r in caplog.records) == 1


def test_lock_paths_are_per_database():
    assert lock_path("sqlite:////var/lib/smartbot/smartbot.db") == "/var/lib/smartbot/smartbot.db.monitors.lock"
    a = lock_path("postgresql://bot@db1/smartbot")
    assert a != lock_path("postgresql://bot@db2/smartbot")
    assert a == lock_path("postgresql://bot@db1/smartbot")
    assert "db1" not in a                                    # no credentials or hosts in a file name


class _CountingMonitors:
    def __init__(self) -> None:
        self.checks = 0

    def check(self) -> list:
        self.checks += 1
        return []


def test_only_the_holders_agent_runs_the_monitors_until_it_stops(tmp_path):
    import time

    from smartbot.ops.agent import OpsAgent

    path = str(tmp_path / "monitors.lock")
    stats = lambda: {"threads": 0, "busy": 0, "max_threads": 0}     # noqa: E731
    first_monitors, second_monitors = _CountingMonitors(), _CountingMonitors()
    first = OpsAgent(first_monitors, stats, 0.05, ServerLock(path))
    first.start()
    deadline = time.monotonic() + 10
    while first_monitors.checks == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    second = OpsAgent(second_monitors, stats, 0.05, ServerLock(path))
    second.start()
    try:
        time.sleep(0.5)
        assert first_monitors.checks >= 3 and second_monitors.checks == 0
        first.stop()
        deadline = time.monotonic() + 10
        while second_monitors.checks == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert second_monitors.checks > 0
    finally:
        first.stop()
        second.stop()


def test_a_forked_child_does_not_keep_its_parents_lock_alive(tmp_path):
    import time

    path = str(tmp_path / "monitors.lock")
    parent = ServerLock(path)
    assert parent.held()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: asks, is refused, and stays alive
        try:
            os.write(ready_w, b"1" if not parent.held() else b"0")
            time.sleep(3)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"1"
        parent.release()
        assert ServerLock(path).held()             # free although the child still lives
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(ready_w)
