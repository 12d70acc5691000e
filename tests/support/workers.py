"""`smartbot worker` processes for the scale-out tests (the Celery backend), started and stopped
in a process group of their own."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def start_worker(config_path: Path, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([str(Path(sys.executable).parent / "smartbot"), "worker"],
                            env={**os.environ, "SMARTBOT_CONFIG": str(config_path), **(env or {})},
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the worker's group; SIGKILL when it has not stopped within 20 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
