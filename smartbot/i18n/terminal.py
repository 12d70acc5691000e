"""Texts for a person at a terminal (`smartbot check-config`, ./scripts/start.sh), in their language.

The language is SMARTBOT_LANG when set, else the POSIX locale (LC_ALL, LC_MESSAGES, LANG, the first
one set): `zh_CN.UTF-8` reads Chinese, `C` or anything without a catalogue reads English.

Run as `python -m smartbot.i18n.terminal KEY [name=value ...]` it prints one text, so a shell
script says its own lines from the same catalogues as the Python code.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping

from . import FALLBACK, normalize, t
from .reasons import say

LOCALE_VARIABLES = ("SMARTBOT_LANG", "LC_ALL", "LC_MESSAGES", "LANG")


def terminal_locale(environ: Mapping[str, str]) -> str:
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "")
        if value:
            return normalize(value.split(".", 1)[0].split("@", 1)[0], FALLBACK)
    return FALLBACK


def said(key: str, **values: object) -> str:
    """A catalogue text in the terminal's language."""
    return t(key, terminal_locale(os.environ), **values)


def said_here(text: object) -> str:
    """A refusal (an i18n.reasons.Reason) in the terminal's language; other text as it is."""
    return say(text, terminal_locale(os.environ))


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m smartbot.i18n.terminal KEY [name=value ...]", file=sys.stderr)
        return 2
    values = dict(arg.split("=", 1) for arg in argv[1:] if "=" in arg)
    print(t(argv[0], terminal_locale(os.environ), **values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
