"""gunicorn settings for SmartBot, from smartbot.toml's [server] section.

`[server] workers` gthread processes, all running from the start, each serving `threads` requests
at once and running its own job pool. The master builds the app once before it forks
(shared_app.py); each worker makes its own database pool and job threads after the fork. A worker
that exits (graceful reload, max requests) finishes its running jobs and hands back the ones it had
not started; a worker killed outright leaves leases that another worker takes over. Metrics: the workers write their samples to one folder (emptied
when the master starts), so any worker answers /metrics for all of them.
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile

from smartbot.server import shared_app
from smartbot.settings.loading import load
from smartbot.telemetry import metrics

_settings = load()
_server = _settings.server
_TEMP_PREFIX = "smartbot-metrics-"
_metrics_dir = _server.metrics_dir or tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-")

bind = [_server.bind]
workers = _server.workers
worker_class = "gthread"
threads = _server.threads
timeout = _server.timeout
graceful_timeout = _server.graceful_timeout
keepalive = 5
backlog = 2048
worker_connections = 1000
preload_app = False
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "smartbot"
control_socket_disable = True      # gunicorn 24+ would open a control socket in $HOME
# The scheme and client address come from a proxy only through [security] trusted_proxies (ProxyFix
# in web_app.py). gunicorn would otherwise believe X-Forwarded-Proto from any loopback or unix-socket
# peer, and a client could have its cookies judged as sent over HTTPS.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = ""


def on_starting(server):  # noqa: ANN001 - gunicorn's hook signature
    """In the master, before any worker starts: migrate once (in a child, so that Alembic does not
    stay loaded in the master) instead of racing in every worker. Then build the app once
    (shared_app.py), which also writes the file's declarations (provisioning), so that the workers
    find nothing to change and share the app's pages instead of each building a copy."""
    import gc

    from smartbot.storage.db import Database

    db = Database(_settings.database_url)
    db.ensure_schema(_settings.auto_migrate, upgrade_in_child=True)
    db.dispose()
    if not _server.metrics_dir:
        _remove_orphaned_metrics_dirs()
    metrics.prepare_shared_dir(_metrics_dir)
    shared_app.build()
    # The workers' garbage collector never writes to (and so copies) what the master built
    # (the Python manual's advice for fork without exec).
    gc.freeze()


def on_reload(server):  # noqa: ANN001
    """kill -HUP re-reads the configuration: the workers forked after it build their own app."""
    shared_app.discard()


def _remove_orphaned_metrics_dirs() -> None:
    """Temporary metrics folders of masters that were killed outright (on_exit never ran)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{_TEMP_PREFIX}*-*")):
        pid = os.path.basename(path)[len(_TEMP_PREFIX):].split("-", 1)[0]
        try:
            ours = os.stat(path).st_uid == os.getuid()
        except FileNotFoundError:       # another master starting now removed it first
            continue
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}") and ours:
            shutil.rmtree(path, ignore_errors=True)


def post_fork(server, worker):  # noqa: ANN001
    """Before the worker takes the app: its metrics go to the folder every worker shares."""
    metrics.use_multiprocess(_metrics_dir)


def child_exit(server, worker):  # noqa: ANN001
    metrics.process_exited(worker.pid, _metrics_dir)


def on_exit(server):  # noqa: ANN001
    if not _server.metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def worker_exit(server, worker):  # noqa: ANN001
    """Finish the worker's running jobs and hand back the ones it had not started."""
    app = getattr(worker, "wsgi", None)
    runtime = getattr(app, "extensions", {}).get("smartbot") if app is not None else None
    if runtime is not None:
        runtime.stop(timeout=max(1.0, graceful_timeout - 2))
