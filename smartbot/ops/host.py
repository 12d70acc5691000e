"""What the monitors and /metrics read about this process and its host: CPU, memory, disk.

Linux /proc and the standard library only; every reader returns None when it cannot tell rather
than raising, so a missing /proc never breaks a scrape or a monitor.
"""
from __future__ import annotations

import logging
import os
import resource
import shutil
from dataclasses import dataclass

log = logging.getLogger(__name__)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class CpuTimes:
    busy: float
    total: float


def host_cpu_times() -> CpuTimes | None:
    """Cumulative jiffies of all CPUs: busy (everything but idle and iowait) and total."""
    try:
        with open("/proc/stat", "rb") as fh:
            parts = [float(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(parts) < 5:
        return None
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return CpuTimes(busy=total - idle, total=total)


def cpu_busy_share(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
    if before is None or after is None or after.total <= before.total:
        return None
    return max(0.0, min(1.0, (after.busy - before.busy) / (after.total - before.total)))


def host_memory_used_share() -> float | None:
    """1 - MemAvailable/MemTotal: what the kernel could not hand out without swapping."""
    info: dict[str, float] = {}
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                key, _, rest = line.decode("ascii", "replace").partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    info[key] = float(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not info.get("MemTotal") or "MemAvailable" not in info:
        return None
    return 1.0 - info["MemAvailable"] / info["MemTotal"]


def disk_used_share(path: str) -> float | None:
    """Used share of the file system holding `path` (the database's folder)."""
    probe = path
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    try:
        usage = shutil.disk_usage(probe or "/")
    except OSError:
        return None
    return usage.used / usage.total if usage.total else None
