"""Which programs a catalogue command may name, and which literal options turn a tool into a runner.

A command's program is written out in its definition; a parameter never chooses it. Refused are
shells, programs whose job is to run another program named in their arguments (`env`, `timeout`,
`nice`, `xargs`, `find -exec`, ...) and interpreters that run code given in their arguments
(`python3 -c`, `awk`, `sed`'s `e` command, `perl -e`, `node -e`, ...): with any of them a parameter,
or a literal the definition carries, becomes a program or a script. The check matches the base
name with versions stripped (`python3.11`, `/usr/bin/perl5.36`) and the file a name resolves to
(`/usr/bin/editor` -> vim). Code that must run belongs in a script installed on the server, named
by its path. This module decides nothing about who may run what.
"""
from __future__ import annotations

import os
import re
import shutil

from ..i18n.reasons import reason
from .environment import FIXED_PATH

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "yash", "rbash",
                    "pwsh", "powershell", "elvish", "nu", "xonsh"})
# They run another program named in their arguments.
WRAPPERS = frozenset({
    "env", "sudo", "su", "doas", "runuser", "pkexec", "setpriv", "capsh", "sg", "newgrp", "xargs", "parallel",
    "find", "eval", "exec", "command", "builtin", "nohup", "setsid", "chroot", "nsenter", "unshare", "script",
    "expect", "ssh", "timeout", "nice", "renice", "ionice", "stdbuf", "chrt", "taskset", "numactl", "prlimit",
    "cgexec", "watch", "flock", "strace", "ltrace", "gdb", "valgrind", "time", "busybox", "toybox", "firejail",
    "bwrap", "systemd-run", "at", "batch", "unbuffer", "setarch", "linux32", "linux64", "faketime", "fakeroot",
    "proot", "torsocks", "proxychains", "sshpass", "tmux", "screen", "catchsegv", "dbus-launch", "make",
    "gmake", "cmake", "ninja",
})
# They run code given in their arguments (or are editors and calculators with a command to run one).
INTERPRETERS = frozenset({
    "awk", "gawk", "mawk", "nawk", "busybox-awk", "sed", "gsed", "perl", "python", "pypy", "node", "nodejs",
    "deno", "bun", "ruby", "irb", "php", "lua", "luajit", "tclsh", "wish", "rscript", "r", "java", "jshell",
    "jrunscript", "jjs", "osascript", "guile", "racket", "sbcl", "clisp", "ocaml", "runghc", "ghci", "julia",
    "groovy", "scala", "kotlin", "dotnet", "mono", "swift", "erl", "escript", "elixir", "iex", "m4", "dc", "ed",
    "ex", "vi", "vim", "nvim", "view", "rvim", "emacs", "gdbserver", "js", "qjs", "rhino",
})
# Multi-call binaries choose what to be by the name they are started with: `df` -> busybox is df.
MULTI_CALL = frozenset({"busybox", "toybox"})
# Literal options with which ordinary tools run a command of their own.
EXEC_OPTIONS = ("--to-command", "--checkpoint-action", "--use-compress-program", "--info-script",
                "--new-volume-script", "--rsh", "--rsync-path", "--upload-pack", "--receive-pack",
                "--unzip-command", "-TT")
_LOADERS = ("ld-linux", "ld.so", "ld64.so", "ld-musl")
_STEM = re.compile(r"[a-z_+\-]+")


def program_refusal(program: str) -> str:
    """Why `program` (argv[0], already known to be literal) cannot be a command's program ("" if it can)."""
    if "/" in program and not program.startswith("/"):
        return reason("reason.program.relative")
    if program.startswith(("/proc/", "/dev/", "/sys/")):
        return reason("reason.program.special")
    why = _by_name(os.path.basename(program))
    if why:
        return why
    resolved = program if program.startswith("/") else shutil.which(program, path=FIXED_PATH)
    if resolved:
        real = os.path.basename(os.path.realpath(resolved))
        if real.lower() not in MULTI_CALL:
            why = _by_name(real, reason("reason.program.is", program=program, real=real))
    return why


def option_refusal(arg: str) -> str:
    """Why a literal argument cannot be passed ("" if it can)."""
    for option in EXEC_OPTIONS:
        if arg == option or arg.startswith(option + "="):
            return reason("reason.program.exec_option", option=option)
    return ""


def _by_name(base: str, prefix: str = "") -> str:
    names = _names(base)
    if names & SHELLS:
        return reason("reason.program.shell", prefix=prefix, base=base)
    if names & WRAPPERS or base.lower().startswith(_LOADERS):
        return reason("reason.program.wrapper", prefix=prefix, base=base)
    if names & INTERPRETERS:
        return reason("reason.program.interpreter", prefix=prefix, base=base)
    return ""


def _names(base: str) -> set[str]:
    """The names a program goes by: python3.11 -> {python3.11, python3, python}."""
    lower = base.lower()
    names = {lower, lower.split(".")[0]}
    stem = _STEM.match(lower)
    if stem:
        names.add(stem.group().rstrip("-_"))
    return names
