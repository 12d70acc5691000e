"""The peers, run from their own venv (bench/.peers-venv) so their dependencies never touch ours.

`ensure()` creates the venv from bench/requirements.txt once. `Nanobot` onboards a throwaway
nanobot home (config + workspace in a temporary folder, HOME pointed there too), points its
custom provider at our fake model, enables the `api` feature, and starts `nanobot serve` or
`nanobot gateway`. Every failure is raised as PeerUnavailable with the reason, for the table.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from common import free_port
from footprint import wait_status

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".peers-venv"
BIN = VENV / "bin"


class PeerUnavailable(Exception):
    """A peer could not be installed or run here; the message says why."""


def ensure(timeout: float = 900) -> Path:
    requirements = (BENCH / "requirements.txt").read_text()
    marker = VENV / ".installed"
    if marker.exists() and marker.read_text() == requirements:
        return VENV
    try:
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True, timeout=120)
        proc = subprocess.run([str(BIN / "pip"), "install", "-q", "--disable-pip-version-check", "-r",
                               str(BENCH / "requirements.txt"), "gunicorn", "flask"],
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PeerUnavailable(f"could not create {VENV}: {exc}") from None
    if proc.returncode != 0:
        raise PeerUnavailable("pip install -r bench/requirements.txt failed: " + proc.stderr.strip()[-300:])
    marker.write_text(requirements)
    return VENV


class Nanobot:
    def __init__(self, workdir: Path, model_base_url: str) -> None:
        self.workdir = workdir
        self.config = workdir / "config.json"
        self.workspace = workdir / "workspace"
        self.env = {**os.environ, "HOME": str(workdir / "home"), "NO_COLOR": "1"}
        self.proc: subprocess.Popen | None = None
        (workdir / "home").mkdir(parents=True, exist_ok=True)
        self._run("onboard", "-c", str(self.config), "-w", str(self.workspace))
        self._run("plugins", "enable", "api")
        config = json.loads(self.config.read_text())
        config["providers"]["custom"].update(apiBase=model_base_url, apiKey="bench-key")
        config["agents"]["defaults"].update(model="fake-1", provider="custom")
        self.api_port, self.gateway_port = free_port(), free_port()
        config["api"]["port"] = self.api_port
        config["gateway"]["port"] = self.gateway_port
        self.config.write_text(json.dumps(config, indent=1))

    def _run(self, *args: str) -> None:
        try:
            proc = subprocess.run([str(BIN / "nanobot"), *args], env=self.env, cwd=self.workdir, capture_output=True,
                                  text=True, timeout=180, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            raise PeerUnavailable(f"nanobot {args[0]}: {exc}") from None
        if proc.returncode != 0:
            raise PeerUnavailable(f"nanobot {args[0]} exited {proc.returncode}: {(proc.stderr or proc.stdout)[-300:]}")

    def start(self, command: str) -> int:
        """`serve` (the OpenAI-compatible API) or `gateway`; returns the root pid once it is up."""
        argv = [str(BIN / "nanobot"), command, "-c", str(self.config), "-w", str(self.workspace)]
        if command == "serve":
            argv += ["--port", str(self.api_port)]
        log = open(self.workdir / f"{command}.log", "ab")
        self.proc = subprocess.Popen(argv, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            if command == "serve":
                wait_status(f"http://127.0.0.1:{self.api_port}/v1/models", timeout=90)
            else:
                wait_status(f"http://127.0.0.1:{self.gateway_port}/health", timeout=90)
        except TimeoutError:
            self.stop()
            tail = (self.workdir / f"{command}.log").read_text(errors="replace")[-300:]
            raise PeerUnavailable(f"nanobot {command} did not come up in 90 s: {tail}") from None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
