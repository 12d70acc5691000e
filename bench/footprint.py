"""What a deployment costs to keep: memory (PSS over a process tree), installed size, start-up.

PSS (proportional set size, from /proc/<pid>/smaps_rollup) counts a page shared by N processes as
1/N in each, so the sum over gunicorn's master and its forked workers is the memory they really
take together; RSS would count every shared page once per process.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (from /proc, no psutil)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def pss_mb(pids: list[int]) -> float:
    return rollup_mb(pids, "Pss")


def pss_file_mb(pids: list[int]) -> float:
    """The part of the PSS that is file pages (libraries, extension modules). Their share falls when
    other processes on the machine map the same files, so it moves between runs; the rest
    (anonymous memory) does not."""
    return rollup_mb(pids, "Pss_File")


def rollup_mb(pids: list[int], field: str) -> float:
    """One field of /proc/<pid>/smaps_rollup summed over `pids` (a process that has exited counts 0)."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    total_kb += int(line.split()[1])
                    break
        except OSError:
            continue
    return total_kb / 1024


def tree_pss_mb(root: int) -> float:
    return pss_mb(process_tree(root))


def site_packages_mb(venv: Path) -> float:
    """Size on disk of everything installed in a venv's site-packages (pip itself excluded)."""
    site = next((venv / "lib").glob("python3*/site-packages"))
    total = 0
    for path in site.rglob("*"):
        if path.is_file() and not path.is_symlink():
            top = path.relative_to(site).parts[0].lower()
            if top.startswith(("pip", "_distutils_hack", "setuptools", "pkg_resources")):
                continue
            total += path.stat().st_size
    return total / 1e6


def fresh_venv(path: Path, *pip_args: str, timeout: float = 600) -> Path:
    """A new venv with `pip_args` installed, reused when it exists (made by this script before)."""
    marker = path / ".installed"
    if marker.exists() and marker.read_text() == " ".join(pip_args):
        return path
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True, timeout=120)
    subprocess.run([str(path / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *pip_args],
                   check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker.write_text(" ".join(pip_args))
    return path


def wait_status(url: str, status: int = 200, timeout: float = 60.0) -> float:
    """Seconds until `url` answers `status` (polled every 10 ms); raises TimeoutError."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == status:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.01)
    raise TimeoutError(url)
