"""The exec wrapper every command runs through: set resource limits, drop root, then execv.

    python -I -S limits.py --cpu S --as BYTES --fsize BYTES --nproc N [--user NAME] -- /abs/program args...

It exists because subprocess's preexec_fn is unsafe in a threaded program: the limits are applied
here, in a fresh single-threaded process, before the real program replaces it. It imports only the
standard library (it runs with -I -S, outside the package) and it never runs a shell.

RLIMIT_NPROC counts every task of a user, so the limit is set to what that user runs now plus
`--nproc`. The kernel does not enforce it for root, which is one reason commands never run as
root: when started as root, the wrapper switches to `--user` first.
"""
from __future__ import annotations

import os
import pwd
import resource
import sys


def _tasks_of(uid: int) -> int:
    """How many tasks (threads count) the user runs now, from /proc."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as fh:
                status = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        try:
            if int(fields.get("Uid", "-1").split()[0]) == uid:
                total += int(fields.get("Threads", "1").strip())
        except ValueError:
            continue
    return total


def _parse(args: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    i = 0
    while i < len(args) and args[i] != "--":
        if i + 1 >= len(args) or not args[i].startswith("--"):
            raise SystemExit(f"limits: bad option {args[i]!r}")
        options[args[i][2:]] = args[i + 1]
        i += 2
    return options, args[i + 1:]


def main(args: list[str]) -> None:
    options, argv = _parse(args)
    if not argv or not argv[0].startswith("/"):
        sys.stderr.write("limits: the program must be an absolute path\n")
        os._exit(127)
    user = options.get("user", "")
    uid, gid = os.getuid(), os.getgid()
    switch = os.geteuid() == 0
    if switch:
        if not user:
            sys.stderr.write("limits: refusing to run a command as root (no --user given)\n")
            os._exit(126)
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            sys.stderr.write(f"limits: there is no user {user!r} to run commands as (see [executor] run_as)\n")
            os._exit(126)
        uid, gid = entry.pw_uid, entry.pw_gid
        if uid == 0:
            sys.stderr.write("limits: refusing to run a command as root\n")
            os._exit(126)
    nproc = _tasks_of(uid) + int(options.get("nproc", "32"))
    cpu = int(options.get("cpu", "30"))
    limits = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, (cpu, cpu + 1)),
              (resource.RLIMIT_AS, int(options.get("as", str(512 << 20)))),
              (resource.RLIMIT_FSIZE, int(options.get("fsize", str(16 << 20)))),
              (resource.RLIMIT_NPROC, nproc)]
    for which, value in limits:
        soft, hard = value if isinstance(value, tuple) else (value, value)
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))
    if switch:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        if os.getuid() == 0 or os.geteuid() == 0:
            os._exit(126)
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"cannot start {argv[0]}: {exc.strerror}\n")
        os._exit(126 if exc.errno in (1, 13) else 127)


if __name__ == "__main__":
    main(sys.argv[1:])
