"""A real deployment for the tests: deploy/install.sh into a temporary root, with supervisord and
nginx from the OS packages started on configs of their own (never the system ones), on high ports.

Everything started here is stopped by `Deployment.stop()`: supervisord (which stops gunicorn),
nginx, and the test's service user is removed again.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import pwd
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from .apps import free_port
from .signing import generic_request

SOURCE = Path(__file__).resolve().parents[2]
SERVICE_USER = "smartbot-ci"


def missing_requirements() -> str:
    """Why the deployment tests cannot run here ('' when they can)."""
    if os.geteuid() != 0:
        return "needs root (a service user, supervisord switching to it, nginx on its own config)"
    missing = [tool for tool in ("nginx", "supervisord", "supervisorctl", "openssl", "runuser", "useradd")
               if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)}: scripts/test.sh installs nginx, supervisor and openssl"
    return ""


class Deployment:
    def __init__(self, callback_url: str, admin_allow: str, metrics_allow: str = "") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="smartbot-deploy-", dir="/tmp"))
        self.root.chmod(0o755)              # nginx's and the service user's way to the socket
        self.prefix = self.root / "prefix"
        self.state = self.root / "state"    # supervisord's and nginx's own files
        self.state.mkdir()
        self.https_port, self.http_port = free_port(), free_port()
        self.callback_url = callback_url
        self.admin_allow = admin_allow
        self.metrics_allow = metrics_allow
        self.supervisord: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None
        self.install_runs: list[str] = []

    # -- installing -----------------------------------------------------------------------------
    def install_args(self, services: bool) -> list[str]:
        args = ["--prefix", str(self.prefix), "--user", SERVICE_USER, "--server-name", "localhost",
                "--https-port", str(self.https_port), "--http-port", str(self.http_port),
                "--generic-callback", self.callback_url, "--admin-allow", self.admin_allow]
        if self.metrics_allow:
            args += ["--metrics-allow", self.metrics_allow]
        if services:
            args += ["--supervisorctl", f"supervisorctl -c {self.supervisor_conf}",
                     "--nginx", f"nginx -c {self.nginx_conf}"]
        return args

    def install(self, source: Path = SOURCE, services: bool = False) -> str:
        proc = subprocess.run(["bash", str(source / "deploy" / "install.sh"), *self.install_args(services)],
                              capture_output=True, text=True, timeout=600)
        output = proc.stdout + proc.stderr
        self.install_runs.append(output)
        if proc.returncode != 0:
            raise RuntimeError(f"install.sh failed ({proc.returncode}):\n{output}")
        return output

    @property
    def etc(self) -> Path:
        return self.prefix / "etc" / "smartbot"

    @property
    def cert(self) -> str:
        return str(self.etc / "tls" / "cert.pem")

    def env_file(self) -> dict[str, str]:
        values = {}
        for line in (self.etc / "env").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key] = value.strip("'")
        return values

    def snapshot(self) -> dict[str, tuple]:
        """Content hash, mtime, mode and owner of every installed file (not the app's own data)."""
        skip = (self.prefix / "var" / "lib" / "smartbot" / "data", self.prefix / "var" / "lib" / "smartbot" / "run",
                self.prefix / "var" / "log" / "smartbot")
        found: dict[str, tuple] = {}
        for path in sorted(self.prefix.rglob("*")):
            if any(path == s or s in path.parents for s in skip) or "__pycache__" in path.parts:
                continue
            info = path.lstat()
            digest = ""
            if stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                digest = os.readlink(path)
            found[str(path.relative_to(self.prefix))] = (digest, info.st_mtime_ns, info.st_mode, info.st_uid,
                                                         info.st_gid)
        return found

    # -- services -------------------------------------------------------------------------------
    @property
    def supervisor_conf(self) -> Path:
        return self.state / "supervisord.conf"

    @property
    def nginx_conf(self) -> Path:
        return self.state / "nginx.conf"

    def start(self) -> None:
        s = self.state
        self.supervisor_conf.write_text(
            f"[unix_http_server]\nfile={s}/supervisor.sock\nchmod=0700\n\n"
            f"[supervisord]\nlogfile={s}/supervisord.log\npidfile={s}/supervisord.pid\nchildlogdir={s}\n"
            f"nodaemon=true\n\n[rpcinterface:supervisor]\n"
            f"supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            f"[supervisorctl]\nserverurl=unix://{s}/supervisor.sock\n\n"
            f"[include]\nfiles = {self.prefix}/etc/supervisor/conf.d/*.conf\n")
        temp_paths = "".join(f"    {kind}_temp_path {s}/{kind};\n"
                             for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.nginx_conf.write_text(
            f"user www-data;\nworker_processes 1;\npid {s}/nginx.pid;\nerror_log {s}/nginx-error.log;\n"
            f"events {{ worker_connections 512; }}\n"
            f"http {{\n    include /etc/nginx/mime.types;\n{temp_paths}"
            f"    include {self.prefix}/etc/nginx/conf.d/*.conf;\n}}\n")
        self.supervisord = subprocess.Popen(["supervisord", "-c", str(self.supervisor_conf)], cwd=s,
                                            stdout=open(s / "supervisord.out", "ab"), stderr=subprocess.STDOUT,
                                            start_new_session=True)
        check = subprocess.run(["nginx", "-t", "-q", "-c", str(self.nginx_conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.nginx = subprocess.Popen(["nginx", "-c", str(self.nginx_conf), "-g", "daemon off;"], cwd=s,
                                      stdout=open(s / "nginx.out", "ab"), stderr=subprocess.STDOUT,
                                      start_new_session=True)
        self.wait_ready()

    def supervisorctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["supervisorctl", "-c", str(self.supervisor_conf), *args], capture_output=True,
                              text=True, timeout=120)

    def app_pid(self) -> int:
        out = self.supervisorctl("pid", "smartbot").stdout.strip()
        return int(out) if out.isdigit() else 0

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.get("/readyz").status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the deployment did not become ready:\n{self.logs()}")

    def stop(self) -> None:
        app_pid = self.app_pid() if self.supervisord is not None and self.supervisord.poll() is None else 0
        if self.supervisord is not None and self.supervisord.poll() is None:
            self.supervisorctl("shutdown")
            _wait_or_kill(self.supervisord, 60)
        if app_pid:
            try:                            # supervisor gives each program its own process group
                os.killpg(app_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.nginx is not None and self.nginx.poll() is None:
            subprocess.run(["nginx", "-c", str(self.nginx_conf), "-s", "quit"], capture_output=True)
            _wait_or_kill(self.nginx, 20)
        try:
            pwd.getpwnam(SERVICE_USER)
            subprocess.run(["userdel", SERVICE_USER], capture_output=True)
        except KeyError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        parts = []
        for path in (self.prefix / "var/log/smartbot/smartbot.log", self.state / "nginx-error.log",
                     self.state / "supervisord.log"):
            try:
                parts.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-4000:])
            except OSError:
                pass
        return "\n".join(parts)

    # -- clients ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.url + path, verify=self.cert, timeout=10, **kw)

    def post_generic(self, payload: Any, **kw: Any) -> requests.Response:
        body, headers = generic_request(self.env_file()["SMARTBOT_GENERIC_SECRET"], payload)
        return requests.post(self.url + "/webhooks/generic", data=body, headers=headers, verify=self.cert,
                             timeout=10, **kw)

    def request_from(self, source_ip: str, method: str, path: str, body: bytes | None = None,
                     headers: dict[str, str] | None = None) -> tuple[int, str]:
        """A request over HTTPS from another loopback address (for the allowlists)."""
        status, _, text = self.exchange_from(source_ip, method, path, body, headers)
        return status, text

    def exchange_from(self, source_ip: str, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, str]:
        """As request_from, with the response's headers (every Set-Cookie: `.get_all(name)`)."""
        context = ssl.create_default_context(cafile=self.cert)
        conn = http.client.HTTPSConnection("localhost", self.https_port, context=context, timeout=10,
                                           source_address=(source_ip, 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def tls_version(self) -> str:
        context = ssl.create_default_context(cafile=self.cert)
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version() or ""


def _wait_or_kill(proc: subprocess.Popen, timeout: float) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
