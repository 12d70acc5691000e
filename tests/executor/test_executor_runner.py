"""The runner contains what it runs: no shell, a scrubbed environment, never root, a deadline that
kills the whole process group, an output cap, and resource limits that stop fork bombs and memory
hogs. Every test runs real programs in real subprocesses."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import pytest

from smartbot.executor.environment import OwnVariables
from smartbot.executor.runner import BASE_ENV, OUTPUT_LIMIT, TIMEOUT, CommandRunner, Limits, run
from tests.support.executor import PYTHON

LIMITS = Limits(cpu_seconds=5, memory_bytes=256 << 20, file_size_bytes=1 << 20, max_processes=8)
OWN = OwnVariables(lambda name: name.startswith("SMARTBOT_"))


def _py(code: str, timeout: float = 5.0, cap: int = 10_000, limits: Limits = LIMITS, env: dict | None = None):
    return run([PYTHON, "-c", code], timeout, cap, "/", env or dict(BASE_ENV), limits)


def _live_tasks_of(uid: int) -> int:
    """Processes of `uid` that are still running (killed ones waiting to be reaped do not count)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid != uid:
                    continue
                with open(f"/proc/{entry}/stat") as fh:
                    if fh.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X"):
                        count += 1
            except (OSError, IndexError):
                pass
    return count


def test_arguments_reach_the_program_verbatim_with_no_shell():
    hostile = ["; rm -rf / #", "$(id)", "`id`", "a && b", "| cat /etc/shadow", "*", "~root", "$HOME"]
    result = run([PYTHON, "-c", "import sys; print(repr(sys.argv[1:]))", *hostile], 5, 10_000, "/",
                 dict(BASE_ENV), LIMITS)
    assert result.ok, result
    assert result.stdout.strip() == repr(hostile)


def test_environment_is_scrubbed_to_a_fixed_path_and_allowed_variables():
    runner = CommandRunner(LIMITS, {"SECRET_TOKEN": "s3cr3t", "GREETING": "hi", "LD_PRELOAD": "/evil.so",
                                    "SMARTBOT_SECRET_KEY": "k" * 40})
    result = runner.run([PYTHON, "-c", "import os, json; print(json.dumps(dict(os.environ)))"], 5, 10_000,
                        allowed_env=("GREETING", "LD_PRELOAD", "SMARTBOT_SECRET_KEY"), own=OWN)
    env = json.loads(result.stdout)
    assert env["GREETING"] == "hi" and env["PATH"] == BASE_ENV["PATH"]
    assert "SECRET_TOKEN" not in env and "LD_PRELOAD" not in env and "HOME" not in env
    assert "SMARTBOT_SECRET_KEY" not in env


def test_output_is_masked_with_smartbots_secrets_and_the_secret_parameters():
    runner = CommandRunner(LIMITS, {"SMARTBOT_SECRET_KEY": "k" * 40, "SMARTBOT_LOG_LEVEL": "INFO"})
    code = "import sys; print('k' * 40, 'INFO', sys.argv[1]); print('password=hunter2', file=sys.stderr)"
    result = runner.run([PYTHON, "-c", code, "word-s3cr3t"], 5, 10_000, own=OWN, secrets=["word-s3cr3t"])
    assert result.stdout.strip() == "*** INFO ***" and result.stderr.strip() == "password=***"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root; as non-root commands run as the server's user")
def test_commands_never_run_as_root():
    result = _py("import os; print(os.getuid(), os.geteuid(), os.getgroups())")
    uid, euid, groups = result.stdout.split(" ", 2)
    assert uid == euid == "65534" and groups.strip() == "[]"


def test_a_command_that_runs_forever_is_killed_at_its_deadline():
    started = time.monotonic()
    result = run(["sleep", "60"], 0.5, 1000, "/", dict(BASE_ENV), LIMITS)
    assert result.stopped == TIMEOUT and result.exit_code == -9
    assert time.monotonic() - started < 3


def test_the_whole_process_group_dies_including_background_children():
    code = ("import subprocess, sys; p = subprocess.Popen(['sleep', '300']); print(p.pid, flush=True)")
    started = time.monotonic()
    result = _py(code, timeout=20)
    assert time.monotonic() - started < 3, "a background child holding the pipes kept the command alive"
    assert not result.stopped
    child = int(result.stdout.split()[0])
    deadline = time.monotonic() + 2       # SIGKILL is delivered asynchronously
    state = ""
    while time.monotonic() < deadline and state not in ("gone", "Z", "X"):
        try:
            with open(f"/proc/{child}/stat") as fh:
                state = fh.read().rsplit(")", 1)[-1].split()[0]
        except FileNotFoundError:
            state = "gone"
        time.sleep(0.01)
    assert state in ("gone", "Z", "X"), "the background child outlived its command"


def test_gigabytes_of_output_are_cut_at_the_cap_and_the_command_stopped():
    started = time.monotonic()
    result = run(["yes", "spam spam spam"], 30, 64_000, "/", dict(BASE_ENV), LIMITS)
    assert result.truncated and result.stopped == OUTPUT_LIMIT
    assert len(result.stdout.encode()) <= 64_000 and result.stdout.startswith("spam spam spam\n")
    assert time.monotonic() - started < 5


def test_stdout_and_stderr_share_the_cap():
    result = _py("import sys\nfor i in range(1000):\n  print('o' * 50); print('e' * 50, file=sys.stderr)", cap=2000)
    assert result.truncated
    assert len(result.stdout.encode()) + len(result.stderr.encode()) <= 2000


def test_a_fork_bomb_is_contained_by_the_process_limit():
    bomb = ("import os, time\nrefused = 0\nfor _ in range(500):\n    try:\n        if os.fork() == 0:\n"
            "            time.sleep(30)\n            os._exit(0)\n    except OSError:\n        refused += 1\n"
            "print('refused', refused, flush=True)\n")
    started = time.monotonic()
    result = _py(bomb, timeout=20)
    assert time.monotonic() - started < 10 and not result.stopped
    assert result.exit_code == 0 and int(result.stdout.split()[1]) > 400, result
    time.sleep(0.2)
    assert _live_tasks_of(65534 if os.geteuid() == 0 else os.getuid()) < 50


def test_a_fork_bomb_that_never_stops_is_killed_at_the_deadline():
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    started = time.monotonic()
    result = _py(bomb, timeout=1.5)
    assert result.stopped == TIMEOUT
    assert time.monotonic() - started < 5
    time.sleep(0.3)
    if os.geteuid() == 0:
        assert _live_tasks_of(65534) == 0


def test_memory_is_limited():
    result = _py("x = bytearray(1024 ** 3)")
    assert result.exit_code == 1 and "MemoryError" in result.stderr


def test_cpu_time_is_limited():
    limits = Limits(cpu_seconds=1, memory_bytes=256 << 20, file_size_bytes=1 << 20, max_processes=8)
    result = _py("while True: pass", timeout=10, limits=limits)
    assert result.exit_code in (-9, -24) and not result.stopped    # SIGXCPU/SIGKILL from the kernel
    assert result.duration < 5


def test_file_size_is_limited():
    folder = tempfile.mkdtemp(prefix="smartbot-fsize-")
    os.chmod(folder, 0o777)
    target = os.path.join(folder, "big")
    code = (f"f = open({target!r}, 'wb')\ntry:\n    f.write(b'x' * (4 << 20)); f.flush()\n"
            "except OSError as e:\n    print('refused', e.errno)")
    try:
        result = _py(code)
        assert result.stdout.split() == ["refused", "27"], result      # EFBIG
        assert os.path.getsize(target) <= 1 << 20
    finally:
        shutil.rmtree(folder)


def test_a_missing_program_is_reported_not_raised():
    result = run(["no-such-program-xyz"], 5, 1000, "/", dict(BASE_ENV), LIMITS)
    assert result.exit_code is None and "not installed" in result.error


def test_concurrency_is_bounded_and_the_rest_are_told():
    import threading

    runner = CommandRunner(LIMITS, {}, max_concurrent=1, wait_for_slot=0.2)
    results = []
    slow = threading.Thread(target=lambda: results.append(runner.run(["sleep", "1"], 5, 100, own=OWN)))
    slow.start()
    time.sleep(0.2)
    busy = runner.run(["true"], 5, 100, own=OWN)
    slow.join()
    assert busy.stopped == "busy" and busy.exit_code is None
    assert results[0].ok
