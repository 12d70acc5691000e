"""The app under test, served for real: in this process (werkzeug) or under gunicorn."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from . import migrated_postgres, migrated_sqlite, toml_writer
from .signing import generic_request

VENV_BIN = Path(sys.executable).parent


def seed_database(url: str) -> None:
    """A migrated database where `url` points, when that is a new SQLite file or an empty PostgreSQL
    schema (copied or replayed: see migrated_sqlite and migrated_postgres); anything else is left as is."""
    migrated_sqlite.seed(url)
    migrated_postgres.seed(url)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Client:
    url: str
    secret: str

    def post_generic(self, payload: Any, timestamp: int | None = None, secret: str | None = None,
                     headers: dict[str, str] | None = None) -> requests.Response:
        body, signed = generic_request(secret or self.secret, payload, timestamp)
        return requests.post(self.url + "/webhooks/generic", data=body, headers={**signed, **(headers or {})},
                             timeout=10)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kw)


class LiveApp(_Client):
    """create_app() served by werkzeug's threaded server in this process."""

    def __init__(self, config: dict[str, Any]) -> None:
        from smartbot import create_app

        self.config = config
        self.secret = config.get("channels", {}).get("generic", {}).get("secret", "")
        seed_database(config.get("database_url", ""))
        self.app = create_app(config)
        self.runtime = self.app.extensions["smartbot"]
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.runtime.stop(timeout=5)
        self.runtime.db.dispose()


class GunicornApp(_Client):
    """The app under gunicorn with the package's own gunicorn config, in a separate process group."""

    def __init__(self, config: dict[str, Any], workdir: Path, workers: int = 2, env: dict[str, str] | None = None):
        self.config = config
        self.secret = config.get("channels", {}).get("generic", {}).get("secret", "")
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        server = config.setdefault("server", {})
        server.update(bind=f"127.0.0.1:{self.port}", workers=workers)
        self.config_path = workdir / "smartbot.toml"
        self.config_path.write_text(toml_writer.dumps(config))
        self.env = {**os.environ, "SMARTBOT_CONFIG": str(self.config_path), **(env or {})}
        self.log_path = workdir / "gunicorn.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "GunicornApp":
        seed_database(self.config.get("database_url", ""))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", "python:smartbot.server.gunicorn_conf", "smartbot.wsgi:app"],
            cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until /healthz answers and every worker is running."""
        deadline = time.monotonic() + timeout
        want = self.config["server"]["workers"]
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200 and \
                        len(self.worker_pids()) >= want:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"gunicorn did not become ready:\n{self.log()}")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        except FileNotFoundError:
            return []
        return [int(p) for p in out.split()]

    def kill_workers(self, sig: int = signal.SIGKILL) -> list[int]:
        pids = self.worker_pids()
        for pid in pids:
            os.kill(pid, sig)
        return pids

    def kill_all(self) -> None:
        """kill -9 the whole app: master and workers at once."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""
