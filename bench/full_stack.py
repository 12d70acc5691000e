"""The full stack: wrk over HTTPS -> nginx with the shipped site config -> gunicorn -> the app.

    python bench/full_stack.py [--seconds 10] [--connections 100]

nginx/smartbot.conf as deploy/install.sh installs it (TLS, HTTP/1.1 keep-alive to the upstream,
the webhook location with its limits), rewritten only where a bench must: loopback ports, a
self-signed certificate, log files in the bench's folder, the upstream on gunicorn's TCP port, and
the per-address webhook rate limit raised, since all the load comes from one address (as shipped,
50 r/s with a burst of 200 per address would answer most of it 429 by design). The same nginx
config in front of the plain Flask endpoint gives the baseline; both apps run under gunicorn with
the shipped settings, generic webhooks signed as the platform would.
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from loopback_fakes import LoopbackFakes  # noqa: E402

BENCH = Path(__file__).resolve().parent
SHIPPED_SITE = BENCH.parent / "nginx" / "smartbot.conf"
LUA = BENCH / "signed_requests.lua"
BENCH_RATE = "rate=1000000r/s"


def missing() -> str:
    """Why the full stack cannot run here, or ''."""
    absent = [tool for tool in ("nginx", "openssl") if shutil.which(tool) is None]
    return f"needs {' and '.join(absent)} (scripts/test.sh installs them)" if absent else ""


def site_config(upstream_port: int, https_port: int, http_port: int, cert: Path, key: Path, logs: Path) -> str:
    """The shipped site, pointed at loopback ports and the bench's files (see the module docstring)."""
    text = SHIPPED_SITE.read_text()
    replacements = [
        ("server unix:/var/lib/smartbot/run/gunicorn.sock", f"server 127.0.0.1:{upstream_port}"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("/etc/smartbot/tls/cert.pem", str(cert)),
        ("/etc/smartbot/tls/key.pem", str(key)),
        ("/var/log/smartbot/", f"{logs}/"),
        ("rate=50r/s", BENCH_RATE),
    ]
    for old, new in replacements:
        if old not in text:
            raise RuntimeError(f"nginx/smartbot.conf no longer has {old!r}: update bench/full_stack.py")
        text = text.replace(old, new)
    return re.sub(r"^\s*listen \[::\]:\d+.*$\n", "", text, flags=re.MULTILINE)


class Nginx:
    def __init__(self, workdir: Path, upstream_port: int) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        cert, key = workdir / "cert.pem", workdir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                        "-days", "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        self.port = common.free_port()
        site = workdir / "site.conf"
        site.write_text(site_config(upstream_port, self.port, common.free_port(), cert, key, workdir))
        temp_paths = "".join(f"    {kind}_temp_path {workdir}/{kind};\n"
                             for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user www-data;\n" if os.geteuid() == 0 else ""
        self.conf = workdir / "nginx.conf"
        # worker_processes auto: what Debian's own nginx.conf, which the installer keeps, says
        self.conf.write_text(f"{user}worker_processes auto;\npid {workdir}/nginx.pid;\n"
                             f"error_log {workdir}/nginx-error.log;\nevents {{ worker_connections 4096; }}\n"
                             f"http {{\n    include /etc/nginx/mime.types;\n{temp_paths}    include {site};\n}}\n")
        check = subprocess.run(["nginx", "-t", "-q", "-c", str(self.conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.proc = subprocess.Popen(["nginx", "-c", str(self.conf), "-g", "daemon off;"], cwd=workdir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"https://localhost:{self.port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if subprocess.run(["curl", "-sk", "-o", "/dev/null", self.url + "/healthz"]).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("nginx did not come up")

    def stop(self) -> None:
        if self.proc.poll() is None:
            subprocess.run(["nginx", "-c", str(self.conf), "-s", "quit"], capture_output=True)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _through_nginx(app: str, work: Path, conns: int, seconds: int, reqfile: Path,
                   env: dict[str, str] | None = None, config_python: bool = True) -> common.WrkResult:
    server = common.start_gunicorn(app, work, env=env, config_python=config_python)
    nginx = None
    try:
        nginx = Nginx(work / "nginx", int(server.url.rsplit(":", 1)[1]))
        return common.run_wrk(nginx.url + "/webhooks/generic", conns, seconds, LUA,
                              [str(reqfile), "2", "/webhooks/generic"])
    finally:
        if nginx is not None:
            nginx.stop()
        server.stop()


def measure(tmp: Path, conns: int = 100, seconds: int = 10) -> tuple[common.WrkResult, common.WrkResult]:
    """(plain Flask, SmartBot), each behind nginx with the shipped site config."""
    reqfile = tmp / f"full-stack-flask-{conns}.txt"
    common.write_signed_requests(reqfile, 20000, f"nginxflask{conns}")
    base = _through_nginx("baselines.plain_flask:app", tmp / f"full-flask-{conns}", conns, seconds, reqfile,
                          env={"PYTHONPATH": str(BENCH)}, config_python=False)
    reqfile = tmp / f"full-stack-bot-{conns}.txt"
    common.write_signed_requests(reqfile, int(base.rps * seconds * 1.5) + 5000, f"nginxbot{conns}")
    fakes = LoopbackFakes()
    try:
        work = tmp / f"full-bot-{conns}"
        cfg = common.smartbot_config(work, fakes.hook_url, {"providers": [
            {"name": "fake", "kind": "openai", "base_url": fakes.model_base_url, "model": "fake"}]})
        bot = _through_nginx("smartbot.wsgi:app", work, conns, seconds, reqfile, env={"SMARTBOT_CONFIG": str(cfg)})
    finally:
        fakes.stop()
    return base, bot


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=100)
    args = parser.parse_args()
    why = missing()
    if why:
        sys.exit(f"full stack not measured: {why}")
    common.ensure_wrk()
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    base, bot = measure(Path(tempfile.mkdtemp(prefix="smartbot-full-stack-")), args.connections, args.seconds)
    print(f"{'behind nginx (HTTPS)':24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in (("plain Flask", base), ("SmartBot generic", bot)):
        print(f"{name:24} {r.rps:8.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.errors + r.non2xx:7d}")
    print(f"ratio {bot.rps / base.rps:.2f}x")


if __name__ == "__main__":
    main()
