"""./scripts/start.sh run for real, as a newcomer runs it, in a temporary copy of the checkout.

The copy gets a virtualenv that sees this test run's installed packages (a .pth file), so the
requirements are already there and start.sh still installs the copy itself, as on a first run.
The first run serves on the address SMARTBOT_SERVER__BIND names; a second run on the same address
finds the port taken and says how to choose another; `smartbot chat` from the copy works with
nothing exported.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.support.apps import free_port
from tests.support.waiting import wait_until

SOURCE = Path(__file__).resolve().parents[2]
SHIPPED = ("smartbot", "migrations", "scripts", "requirements.txt", "requirements-dev.txt", "setup.cfg",
           "pyproject.toml", "README.md", "smartbot.example.toml")
PASSWORD = "a long enough password"


class FirstRun:
    """start.sh in the background, its output collected line by line."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port, self.env = root, port, _newcomers_env(port)
        self.lines: list[str] = []
        self.proc = subprocess.Popen(["bash", str(root / "scripts" / "start.sh")], cwd=root, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def set_up_lines(self) -> list[str]:
        """What start.sh printed before the server's own log begins."""
        banner = next(i for i, line in enumerate(self.lines) if line.startswith("SmartBot is starting"))
        return self.lines[:banner]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)        # start.sh exec'd into gunicorn's master
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _copy_of_the_checkout(root: Path) -> None:
    for name in SHIPPED:
        source = SOURCE / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, root / name)


def _venv_seeing_our_packages(venv: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "test-run-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")


def _newcomers_env(port: int) -> dict[str, str]:
    """A shell with nothing of SmartBot's exported (and not this test run's code on the path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTBOT_") and k != "PYTHONPATH"}
    return {**env, "SMARTBOT_SERVER__BIND": f"127.0.0.1:{port}", "SMARTBOT_ADMIN_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def started() -> Iterator[FirstRun]:
    root = Path(tempfile.mkdtemp(prefix="smartbot-start-"))
    run = None
    try:
        _copy_of_the_checkout(root)
        _venv_seeing_our_packages(root / ".venv")
        run = FirstRun(root, free_port())
        served = wait_until(lambda: _answers(f"http://127.0.0.1:{run.port}/healthz") or run.proc.poll() is not None,
                            timeout=400, every=0.5)
        assert served and run.proc.poll() is None, run.output
        yield run
    finally:
        if run is not None:
            run.stop()
        shutil.rmtree(root, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_start_says_the_address_the_environment_chose_and_serves_there(started):
    port = started.port
    banner = f"SmartBot is starting: web chat http://127.0.0.1:{port}/chat  admin http://127.0.0.1:{port}/admin/"
    assert any(line.startswith(banner) for line in started.lines), started.output
    assert "127.0.0.1:8080" not in started.output
    front = requests.get(f"http://127.0.0.1:{port}/", allow_redirects=False, timeout=10)
    assert front.status_code == 302 and front.headers["Location"] == "/chat"
    assert (started.root / "var" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_the_first_run_installs_quietly(started):
    set_up = started.set_up_lines()
    assert any(line.startswith("installing SmartBot's Python packages") for line in set_up)
    noise = [line for line in set_up if "warning" in line.lower() or "setuptools" in line.lower()]
    assert noise == [], noise
    assert len(set_up) <= 6, "\n".join(set_up)


def test_a_second_run_on_a_taken_port_says_how_to_choose_another_and_reinstalls_nothing(started):
    root, port = started.root, started.port
    began = time.monotonic()
    again = subprocess.run(["bash", str(root / "scripts" / "start.sh")], cwd=root, env=started.env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - began
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"SmartBot cannot start: 127.0.0.1:{port} (port {port}) is already in use by another program." \
        in again.stderr
    hint = next(line for line in again.stderr.splitlines() if "SMARTBOT_SERVER__BIND=" in line).strip()
    suggested = int(hint.split("127.0.0.1:", 1)[1].split()[0])
    assert hint == f"SMARTBOT_SERVER__BIND=127.0.0.1:{suggested} ./scripts/start.sh" and suggested > port
    assert f'bind = "127.0.0.1:{suggested}" under [server] in {root / "var" / "smartbot.toml"}' in again.stderr
    assert "Traceback" not in again.stderr and "gunicorn" not in (again.stdout + again.stderr).lower()
    assert "installing" not in again.stdout, again.stdout        # the stamp said nothing changed
    assert "SmartBot is starting" not in again.stdout
    assert took < 60, took                                    # gunicorn never started
    with socket.socket() as probe:                               # the hint's port really is free
        probe.bind(("127.0.0.1", suggested))


def test_smartbot_chat_from_the_copy_works_with_nothing_exported(started):
    env = {k: v for k, v in started.env.items() if k not in ("SMARTBOT_SERVER__BIND", "SMARTBOT_ADMIN_PASSWORD")}
    chat = subprocess.run([str(started.root / ".venv" / "bin" / "smartbot"), "chat", "--user", "admin"],
                          cwd="/", env=env, input="/whoami\n", capture_output=True, text=True, timeout=120)
    assert chat.returncode == 0, chat.stderr
    assert "SmartBot> admin (admin)" in chat.stdout


def test_the_package_lists_its_templates_texts_and_icon_and_builds_without_warnings(started, tmp_path):
    python = str(started.root / ".venv" / "bin" / "python")
    build = subprocess.run([python, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(started.root)],
                           capture_output=True, text=True, timeout=600, env=started.env)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    # Python warnings (BuildBackendWarning, SetuptoolsDeprecationWarning, ...), not distutils' notes
    # such as "warning: build_py: byte-compiling is disabled".
    warnings = [line for line in (build.stdout + build.stderr).splitlines() if "Warning:" in line]
    assert warnings == [], "\n".join(warnings[:20])
    wheel = next(tmp_path.glob("smartbot-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("smartbot/templates/admin/base.html", "smartbot/templates/webchat/chat.html",
                    "smartbot/i18n/zh-CN/setup.json", "smartbot/i18n/en/admin.json", "smartbot/static/favicon.svg"):
        assert shipped in names, shipped
