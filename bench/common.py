"""Shared bench plumbing: start an app under gunicorn (SmartBot or a baseline) with the same
settings, drive it with wrk from a separate process, and parse what wrk prints."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smartbot.settings.sections import ServerSettings  # noqa: E402
from tests.support import toml_writer  # noqa: E402
from tests.support.apps import free_port  # noqa: E402
from tests.support.signing import signature  # noqa: E402

VENV_BIN = Path(sys.executable).parent
SHIPPED = ServerSettings()          # the worker settings smartbot.server.gunicorn_conf ships with
SECRET = "bench-secret-0123456789abcdef"
# Extra SmartBot settings for A/B runs, as JSON: BENCH_EXTRA='{"server": {"fast_webhook_route": false}}'
EXTRA = json.loads(os.environ.get("BENCH_EXTRA", "{}"))


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return path


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    workdir: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(url)


def wait_all_workers(server: Server, port: int, timeout: float = 30.0) -> None:
    """Return once every gunicorn worker accepts connections.

    /healthz answers as soon as the first worker is up. Load started then lands every keep-alive
    connection on that worker while the others still boot (seen: all 100 of wrk's connections on one
    of two workers, for plain Flask and SmartBot alike, halving the rate in about half the runs).
    So open a few connections at a time until each worker holds one of them.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = _children(server.proc.pid)
        probes = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4 * max(1, len(workers)))]
        try:
            time.sleep(0.2)
            ours = {_inode_of_accepted(port, sock.getsockname()[1]) for sock in probes}
            if workers and all(_socket_inodes(pid) & ours for pid in workers):
                return
        finally:
            for sock in probes:
                sock.close()
        time.sleep(0.1)
    raise TimeoutError(f"not every worker of {server.url} accepts connections")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _inode_of_accepted(server_port: int, client_port: int) -> str:
    """The inode of the server side of the loopback connection from `client_port`."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == server_port and int(fields[2].rsplit(":", 1)[1], 16) == client_port:
            return fields[9]
    return "?"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def start_gunicorn(app: str, workdir: Path, env: dict[str, str] | None = None, config_python: bool = True,
                   port: int | None = None, bin_dir: Path = VENV_BIN, all_workers: bool = True) -> Server:
    """Start `app` under gunicorn with SmartBot's shipped worker settings (gthread, same counts);
    `bin_dir`: the venv whose gunicorn runs it (the peers have their own); `all_workers`: return
    once every worker accepts connections, not when the first one answers (see wait_all_workers)."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    if config_python:
        full_env["SMARTBOT_SERVER__BIND"] = f"127.0.0.1:{port}"
        argv = [str(bin_dir / "gunicorn"), "-c", "python:smartbot.server.gunicorn_conf", app]
    else:
        argv = [str(bin_dir / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(SHIPPED.workers),
                "-k", "gthread", "--threads", str(SHIPPED.threads), "--keep-alive", "5",
                "--backlog", "2048", "--log-level", "warning", app]
    log = open(workdir / "server.log", "ab")
    proc = subprocess.Popen(argv, cwd=workdir, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    server = Server(proc, f"http://127.0.0.1:{port}", workdir)
    try:
        wait_http(server.url + "/healthz")
        if all_workers:
            wait_all_workers(server, port)
    except TimeoutError:
        server.stop()
        raise SystemExit(f"{app} did not start; see {workdir / 'server.log'}")
    return server


def write_signed_requests(path: Path, count: int, prefix: str, chats: int = 500) -> None:
    ts = str(int(time.time()))
    with open(path, "w") as fh:
        for i in range(count):
            body = json.dumps({"event_id": f"{prefix}-{i}", "chat_id": f"chat-{i % chats}",
                               "user_id": f"user-{i % chats}", "text": f"hello {i}"}, separators=(",", ":"))
            fh.write(f"{ts}|{signature(SECRET, ts, body.encode())}|{body}\n")


SLACK_SECRET = "0123456789abcdef0123456789abcdef"   # the 32 hex characters Slack shows


def write_slack_requests(path: Path, count: int, prefix: str, chats: int = 500) -> None:
    """Slack Events API message events (direct messages, each a new ts), signed with v0 signatures."""
    ts = str(int(time.time()))
    with open(path, "w") as fh:
        for i in range(count):
            event = {"type": "message", "channel": f"D{prefix.upper()}{i % chats}", "channel_type": "im",
                     "user": f"U{i % chats:05d}", "text": f"hello {i}", "ts": f"{ts}.{i:06d}"}
            body = json.dumps({"token": "unused", "team_id": "T0BENCH", "api_app_id": "A0BENCH",
                               "type": "event_callback", "event_id": f"Ev{prefix}{i}", "event_time": int(ts), "event": event,
                               "authorizations": [{"team_id": "T0BENCH", "user_id": "UBENCHBOT", "is_bot": True}]},
                              separators=(",", ":"))
            digest = hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
            fh.write(f"{ts}|v0={digest}|{body}\n")


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non2xx: int


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(url: str, connections: int, seconds: int, script: Path | None = None,
            script_args: list[str] | None = None, threads: int = 2) -> WrkResult:
    argv = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if script_args:
        argv += ["--"] + script_args
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    # the latency distribution's own lines: "75.50%" in the thread stats would match a bare "50%"
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.MULTILINE).group(1))
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.MULTILINE).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(rps, p50, p99, total, sum(int(x) for x in errs.groups()) if errs else 0,
                     int(non2xx.group(1)) if non2xx else 0)


def smartbot_config(workdir: Path, callback_url: str, extra: dict | None = None) -> Path:
    """A smartbot.toml with the shipped settings, SQLite in `workdir`, the generic channel and `extra`."""
    config = {"database_url": f"sqlite:///{workdir / 'smartbot.db'}",
              "channels": {"generic": {"secret": SECRET, "callback_url": callback_url}},
              # load generators send many messages per sender; the guest rate limit would refuse them
              "quotas": {"messages_per_minute_per_role": {}},
              "server": {}}
    for key, value in (extra or {}).items():
        if key in ("channels", "server"):
            config[key].update(value)
        else:
            config[key] = value
    path = workdir / "smartbot.toml"
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text(toml_writer.dumps(config))
    return path
