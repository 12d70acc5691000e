"""Running one command: no shell, a scrubbed environment, its own process group, resource limits,
a deadline and an output cap. Plain data in (an argv list), a CommandResult out, with SmartBot's
own secrets (and the values of secret parameters) masked in its output before anyone stores it.

Never a shell, never `shell=True`, never a command line built as a string. The program is resolved
against a fixed PATH, and the child starts through the `limits` exec wrapper (resource limits and
dropping root happen there, not in a preexec_fn, which is unsafe in a threaded process). On timeout
or when the output passes its cap, the whole process group is killed; when the program ends, the
group is killed too, so nothing it started in the background outlives it.
"""
from __future__ import annotations

import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ..telemetry.redact import mask_text
from .environment import BASE_ENV, FIXED_PATH, OwnVariables, child_environment
from .settings import ExecutorSettings

log = logging.getLogger(__name__)

__all__ = ["BASE_ENV", "FIXED_PATH", "CommandResult", "CommandRunner", "Limits", "resolve_program", "run"]
LIMITS_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "limits.py")
TIMEOUT, OUTPUT_LIMIT, BUSY = "timeout", "output_limit", "busy"
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 30
    memory_bytes: int = 512 << 20
    file_size_bytes: int = 16 << 20
    max_processes: int = 32
    run_as: str = "nobody"

    @classmethod
    def from_settings(cls, settings: ExecutorSettings) -> Limits:
        return cls(cpu_seconds=settings.cpu_seconds, memory_bytes=settings.memory_mb << 20,
                   file_size_bytes=settings.file_size_mb << 20, max_processes=settings.max_processes,
                   run_as=settings.run_as)


@dataclass
class CommandResult:
    argv: list[str]
    exit_code: int | None            # None: it never started (see `error`)
    duration: float = 0.0
    stdout: str = ""
    stderr: str = ""
    output_bytes: int = 0            # what the command wrote, as far as it was read
    truncated: bool = False
    stopped: str = ""                # "" | "timeout" | "output_limit"
    error: str = ""
    pid: int | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.stopped and not self.error


class CommandRunner:
    """Runs commands for one process, at most `max_concurrent` at a time."""

    def __init__(self, limits: Limits, env: Mapping[str, str], max_concurrent: int = 4,
                 wait_for_slot: float = 30.0) -> None:
        self.limits = limits
        self._env = env
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._wait_for_slot = wait_for_slot

    def run(self, argv: list[str], timeout: float, output_cap: int, workdir: str = "/",
            allowed_env: tuple[str, ...] = (), *, own: OwnVariables, secrets: Iterable[str] = ()) -> CommandResult:
        """`own`: SmartBot's own variables as they stand now (never passed, their values masked);
        `secrets`: more values to mask in the output (secret parameters)."""
        if not self._slots.acquire(timeout=self._wait_for_slot):
            return CommandResult(list(argv), None, stopped=BUSY, error="too many commands are running")
        try:
            result = run(argv, timeout, output_cap, workdir, child_environment(allowed_env, self._env, own),
                         self.limits)
        finally:
            self._slots.release()
        hidden = own.secret_values(self._env) + list(secrets)
        result.stdout, result.stderr = mask_text(result.stdout, hidden), mask_text(result.stderr, hidden)
        return result


def resolve_program(program: str) -> str | None:
    if program.startswith("/"):
        return program if os.access(program, os.X_OK) else None
    return shutil.which(program, path=FIXED_PATH)


def limited_argv(program: str, args: list[str], limits: Limits) -> list[str]:
    """The command line that starts `program` through the limits wrapper (a command, or a stdio MCP
    server): resource limits set and root dropped before the program replaces the wrapper."""
    return [sys.executable, "-I", "-S", LIMITS_SCRIPT, "--cpu", str(limits.cpu_seconds),
            "--as", str(limits.memory_bytes), "--fsize", str(limits.file_size_bytes),
            "--nproc", str(limits.max_processes), "--user", limits.run_as, "--", program, *args]


def run(argv: list[str], timeout: float, output_cap: int, workdir: str, env: dict[str, str],
        limits: Limits) -> CommandResult:
    started = time.monotonic()
    program = resolve_program(argv[0])
    if program is None:
        return CommandResult(list(argv), None, error=f"{argv[0]} is not installed on this server")
    if not os.path.isdir(workdir):
        return CommandResult(list(argv), None, error=f"working directory {workdir} does not exist")
    wrapper = limited_argv(program, argv[1:], limits)
    try:
        proc = subprocess.Popen(wrapper, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=workdir, env=env, shell=False, close_fds=True, start_new_session=True)
    except OSError as exc:
        return CommandResult(list(argv), None, error=f"could not start: {exc.strerror}")
    result = CommandResult(list(argv), None, pid=proc.pid)
    try:
        _collect(proc, result, started + timeout, output_cap)
    finally:
        _kill_group(proc)
    result.exit_code = proc.returncode
    result.duration = time.monotonic() - started
    log.info("command %s exited %s after %.2fs (%d bytes%s%s)", argv[0], result.exit_code, result.duration,
             result.output_bytes, ", truncated" if result.truncated else "",
             f", stopped: {result.stopped}" if result.stopped else "")
    return result


def _collect(proc: subprocess.Popen, result: CommandResult, deadline: float, cap: int) -> None:
    """Read stdout and stderr until the program ends (and its pipes are drained), the deadline
    passes, or the cap is reached. Background children holding the pipes open do not extend it."""
    buffers = {"stdout": bytearray(), "stderr": bytearray()}
    sel = selectors.DefaultSelector()
    for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ, name)
    ended = False
    try:
        while sel.get_map() and not result.stopped:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.stopped = TIMEOUT
                break
            events = sel.select(min(remaining, POLL_SECONDS))
            for key, _ in events:
                if not _read_into(key, sel, buffers, result, cap):
                    break
            if ended and not events:
                break           # the program is gone and what it left in the pipes is read
            ended = ended or _has_ended(proc)
        if not result.stopped and not ended:
            _wait_unreaped(proc, deadline)
            if not _has_ended(proc):
                result.stopped = TIMEOUT
    finally:
        sel.close()
        for stream in (proc.stdout, proc.stderr):
            stream.close()
    result.stdout = buffers["stdout"].decode("utf-8", "replace")
    result.stderr = buffers["stderr"].decode("utf-8", "replace")


def _read_into(key: selectors.SelectorKey, sel: selectors.BaseSelector, buffers: dict[str, bytearray],
               result: CommandResult, cap: int) -> bool:
    """Read one chunk; False once the cap is passed (the command is then stopped)."""
    chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
    if not chunk:
        sel.unregister(key.fileobj)
        return True
    result.output_bytes += len(chunk)
    room = cap - len(buffers["stdout"]) - len(buffers["stderr"])
    buffers[key.data] += chunk[:max(room, 0)]
    if len(chunk) > room:
        result.truncated = True
        result.stopped = OUTPUT_LIMIT
        return False
    return True


def _has_ended(proc: subprocess.Popen) -> bool:
    """Whether the program has exited, without reaping it (its process group id stays ours to kill)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _wait_unreaped(proc: subprocess.Popen, deadline: float) -> None:
    delay = 0.001
    while not _has_ended(proc) and time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, POLL_SECONDS)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
