"""A scrape while workers come and go: the shared folder changes between listing and reading it."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from prometheus_client import values

from smartbot.telemetry import metrics

# Another process starts and exits "workers" as gunicorn does: each makes its files as
# prometheus_client does in a worker, and its live gauges are removed when it exits.
_WORKERS_COMING_AND_GOING = textwrap.dedent("""
    import os, sys, time
    from prometheus_client import multiprocess
    from prometheus_client.mmap_dict import MmapedDict
    folder, pid, until = sys.argv[1], 10_000_000, time.monotonic() + float(sys.argv[2])
    print("started", flush=True)
    while time.monotonic() < until:
        pid += 1
        for kind in ("gauge_liveall", "counter"):
            MmapedDict(os.path.join(folder, f"{kind}_{pid}.db")).close()
        multiprocess.mark_process_dead(pid, folder)
        os.remove(os.path.join(folder, f"counter_{pid}.db"))
        time.sleep(0.002)
""")


def test_a_scrape_while_workers_come_and_go_never_fails(tmp_path):
    folder = str(tmp_path)
    saved_value_class = values.ValueClass
    metrics.prepare_shared_dir(folder)
    metrics.use_multiprocess(folder)
    churn = subprocess.Popen([sys.executable, "-c", _WORKERS_COMING_AND_GOING, folder, "60"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert churn.stdout.readline().strip() == "started"
        metrics.count("webhook_requests_total", channel="generic", outcome="accepted")
        for _ in range(1000):
            assert "smartbot_webhook_requests_total" in metrics.render()
        assert churn.poll() is None, "the other process stopped before the scrapes ended"
    finally:
        churn.kill()
        churn.wait()
        values.ValueClass = saved_value_class
        metrics._shared_dir = None
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        metrics.reset()
