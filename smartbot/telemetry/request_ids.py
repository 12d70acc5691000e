"""Request ids: one id follows a message from the webhook to the reply, through every log line.

nginx passes `X-Request-ID` (the client's, or its own `$request_id`); without one a new id is made.
The id is kept in a context variable for the thread working the request or job (the log filter in
logging_setup reads it), and stored with the message and its replies so workers carry it on.
"""
from __future__ import annotations

import contextvars
import random
import re

HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_bits = random.getrandbits
_current: contextvars.ContextVar[str] = contextvars.ContextVar("smartbot_request_id", default="")


def new_id() -> str:
    """32 random hex characters (uuid4's length). An id only tells requests apart, it guards
    nothing, so Python's own generator serves (reseeded in every forked worker): os.urandom is a
    system call that lets go of the GIL, and under load each webhook then waited to take it back."""
    return "%032x" % _bits(128)


def from_header(value: str | None) -> str:
    """The caller's id when it is a sane token (it lands in logs), else a new one."""
    if value and _VALID.match(value):
        return value
    return new_id()


def current() -> str:
    return _current.get()


def bind(request_id: str) -> contextvars.Token:
    return _current.set(request_id)


def unbind(token: contextvars.Token) -> None:
    try:
        _current.reset(token)
    except ValueError:          # reset from another context: just clear it
        _current.set("")
