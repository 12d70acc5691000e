"""What operations cost: recording a metric on the webhook path, rendering /metrics, and the
cluster queries behind /metrics and /readyz on a database with a week of traffic in it.

    python bench/ops.py [--rows 50000]

In-process, no server: it prints microseconds per count()+observe() pair (this process only, and
in the multiprocess mode gunicorn's workers use), the same for the per-process dict registry this
replaced (from git, when available), render() time, and cluster.read() time.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smartbot.storage.db import Database  # noqa: E402
from smartbot.ops import cluster
from smartbot.telemetry import metrics

OLD_METRICS_COMMIT = "28fd03d"     # the last commit with the per-process dict registry


def per_call_us(count, observe, n: int = 50_000) -> float:
    started = time.perf_counter()
    for i in range(n):
        count("webhook_requests_total", channel="generic", outcome="accepted")
        observe("webhook_seconds", 0.004, channel="generic")
    return (time.perf_counter() - started) / n * 1e6


def old_registry() -> types.ModuleType | None:
    try:
        text = subprocess.run(["git", "show", f"{OLD_METRICS_COMMIT}:smartbot/ops/metrics.py"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    module = types.ModuleType("old_metrics")
    exec(compile(text, "old_metrics.py", "exec"), module.__dict__)
    return module


def fill(db: Database, rows: int) -> None:
    now = time.time()
    with db.write() as conn:
        for table, key in (("inbox", "event_id"), ("outbox", "dedup_key")):
            conn.exec_driver_sql(
                f"INSERT INTO {table} (channel, {key}, order_key, payload, status, lease_until, attempts, "
                f"next_attempt_at, created_at, finished_at, last_error) VALUES (?, ?, ?, '{{}}', 'done', 0, 1, 0, ?, ?, '')",
                [(("generic", "telegram", "slack")[i % 3], f"e{i}", f"k{i % 500}", now - i * 12, now - i * 12 + 1)
                 for i in range(rows)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000, help="inbox and outbox rows (a busy week)")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    old = old_registry()
    if old is not None:
        figures["old_dict_registry_us_per_pair"] = per_call_us(old.count, old.observe)
    figures["local_us_per_pair"] = per_call_us(metrics.count, metrics.observe)
    with tempfile.TemporaryDirectory() as tmp:
        metrics.prepare_shared_dir(tmp)
        metrics.use_multiprocess(tmp)
        figures["multiprocess_us_per_pair"] = per_call_us(metrics.count, metrics.observe)
        started = time.perf_counter()
        for _ in range(50):
            metrics.render()
        figures["render_ms"] = (time.perf_counter() - started) / 50 * 1000
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        fill(db, args.rows)
        cluster.read(db, ["generic"])
        started = time.perf_counter()
        for _ in range(10):
            cluster.read(db, ["generic", "telegram", "slack"])
        figures[f"cluster_read_ms_{args.rows}_rows"] = (time.perf_counter() - started) / 10 * 1000
        db.dispose()
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
