"""gunicorn settings for SmartBot, from smartbot.toml's [server] section.

gthread workers: each process serves `threads` requests at once and runs its own job pool.
No preload: every worker builds its own app, database pool and job threads after the fork.
A worker that exits (graceful reload, max requests) finishes its running jobs and hands back the
ones it had not started; a worker killed outright leaves leases that another worker takes over.
Metrics: the workers write their samples to one folder (emptied when the master starts), so any
worker answers /metrics for all of them.
"""
from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile

from smartbot.config import load

_settings = load()
_server = _settings.server
_TEMP_PREFIX = "smartbot-metrics-"
_metrics_dir = _server.metrics_dir or tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-")


def _remove_orphaned_metrics_dirs() -> None:
    """Temporary metrics folders of masters that were killed outright (on_exit never ran)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{_TEMP_PREFIX}*-*")):
        pid = os.path.basename(path)[len(_TEMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}") and os.stat(path).st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True)

bind = [_server.bind]
workers = min(_server.idle_workers, _server.workers)     # more on demand: ops/worker_scaling.py
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


def on_starting(server):  # noqa: ANN001
    """Migrate once, before any worker starts, instead of racing in every worker: in a child of the
    master, so that Alembic is not kept in the master for the life of the deployment.

    Then write the file's declarations (provisioning) once here too. Each worker still provisions
    as it builds its Runtime, but finds nothing left to change, and SQLAlchemy's memoized parts of
    the shared tables are already built in the master's memory: idle PSS 1.3-1.7 MB lower (one
    provider, measured alternately with and without). Logging is set up for it (after the
    migration, which logs as before), so that what provisioning logs and audits reaches the same
    handlers as it did from a worker; the workers inherit them.
    """
    _import_jwt_without_cryptography()
    from smartbot import audit, logging_setup, provisioning
    from smartbot.db import Database

    db = Database(_settings.database_url)
    db.ensure_schema(_settings.auto_migrate, upgrade_in_child=True)
    logging_setup.configure(_settings)
    audit.open_log(db, _settings.secret_key, _settings.audit.key_file)
    provisioning.provision(db, _settings)
    db.dispose()
    from smartbot.ops import metrics

    if not _server.metrics_dir:
        _remove_orphaned_metrics_dirs()
    metrics.prepare_shared_dir(_metrics_dir)
    _import_before_fork()


def _import_before_fork() -> None:
    """Load the code (not the app) once in the master, so the forked workers share its pages.

    Each worker still builds its own app, database pool and threads after the fork. gc.freeze()
    keeps the collector from touching the inherited objects, which would copy their pages into
    every worker. Measured: idle PSS of the master + 2 workers went from 173 MB to 129 MB.

    Still, each worker writes to (and so copies) about 40% of the master's pages while it builds
    its app and serves its first requests (reference counts of every object it uses): what the
    master loads and no process needs costs once, what a worker loads for itself costs once per
    worker. Hence what is left out of every process at start (Alembic, sqlalchemy.orm, the
    PostgreSQL dialect, cryptography, PyYAML, unconfigured channels) and what is loaded here
    rather than in each worker (netrc), and provisioning here: idle PSS 124-129 MB -> 94-95 MB
    (no provider), 128-133 MB -> 96-98 MB (bench/deployment.py, one provider; nanobot's gateway
    measured 85-87 MB in the same runs). Building the app in the master too
    (preload) measured worse (100 MB), as did running its start-up once here to warm caches.
    """
    import gc
    import importlib
    import pkgutil

    import smartbot

    for module in pkgutil.walk_packages(smartbot.__path__, "smartbot."):
        if module.name not in _NOT_BEFORE_FORK and module.name not in _CHANNEL_MODULES:
            importlib.import_module(module.name)
    # Imported on first use, each worker its own copy otherwise: the database driver, time zones, and
    # netrc, which requests imports on a session's first call (the provider probe at start).
    for name in ("sqlite3", "zoneinfo", "netrc"):
        importlib.import_module(name)
    gc.collect()
    gc.freeze()


def _import_jwt_without_cryptography() -> None:
    """PyJWT loads `cryptography` (its Rust library, OpenSSL and ~50 modules) when it is installed,
    only for the RSA and EC algorithms; SmartBot signs its tokens with HS256 (the secret key), for
    which PyJWT needs only hmac. Imported here while `cryptography` reads as absent, PyJWT leaves it
    out: idle PSS of the master + 2 workers ~100 -> ~95 MB. A configured channel that needs
    `cryptography` (Discord, Feishu, WeCom) has imported it already, and PyJWT then loads it as usual.
    """
    if "jwt" in sys.modules or "cryptography" in sys.modules:
        return
    sys.modules["cryptography"] = None  # type: ignore[assignment] - `import cryptography` raises ImportError
    try:
        import jwt  # noqa: F401
    finally:
        del sys.modules["cryptography"]


# wsgi builds the app on import; this module is gunicorn's; the rest pull in what a default
# deployment never loads (Celery, the command line).
_NOT_BEFORE_FORK = {"smartbot.wsgi", "smartbot.gunicorn_conf", "smartbot.jobs.celery_backend", "smartbot.cli"}
# One platform's code each (and what only they use): loading the settings (channels.registry)
# imports the configured ones, in the master too; the others are never needed (~1.3 MB idle PSS).
_CHANNEL_MODULES = {f"smartbot.channels.{name}" for name in (
    "telegram", "slack", "discord", "feishu", "feishu_content", "dingtalk", "open_api", "wecom", "wecom_crypto",
    "cipher", "terminal")}


def post_fork(server, worker):  # noqa: ANN001
    """Before the worker builds the app: its metrics go to the folder every worker shares, and it
    may ask the master for more workers or fewer."""
    from smartbot.ops import metrics, worker_scaling

    metrics.use_multiprocess(_metrics_dir)
    worker_scaling.configure(worker_scaling.WorkerScaling(os.getppid(), _server.idle_workers, _server.workers,
                                                          _server.idle_seconds, _metrics_dir))


def post_worker_init(worker):  # noqa: ANN001
    """The worker built its app: its objects leave the collector's sight (ops/collector.py), and
    the older workers may now share their connections with it."""
    from smartbot.ops import collector, worker_scaling

    collector.settle_worker()
    scaling = worker_scaling.current()
    if scaling is not None:
        scaling.ready()


def nworkers_changed(server, new_value, old_value):  # noqa: ANN001
    """A worker asked for one more worker (SIGTTIN) or one fewer (SIGTTOU): keep the count between
    `[server] idle_workers` and `workers`, however many asked at once."""
    from smartbot.ops.worker_scaling import bounded

    kept = bounded(new_value, _server.idle_workers, _server.workers)
    if old_value is not None and kept != new_value:
        server._num_workers = kept      # the property's setter would call this hook again


def pre_request(worker, req):  # noqa: ANN001
    """Just after a sibling started under load, close every other connection after its answer."""
    from smartbot.ops import worker_scaling

    scaling = worker_scaling.current()
    if scaling is not None and scaling.close_connection(req.peer_addr):
        req.must_close = True


def child_exit(server, worker):  # noqa: ANN001
    from smartbot.ops import metrics

    metrics.process_exited(worker.pid, _metrics_dir)


def on_exit(server):  # noqa: ANN001
    if not _server.metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def worker_exit(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    app = getattr(worker, "wsgi", None)
    runtime = getattr(app, "extensions", {}).get("smartbot") if app is not None else None
    if runtime is not None:
        runtime.stop(timeout=max(1.0, graceful_timeout - 2))

