"""Masks secrets in anything that is about to be logged or audited."""
from __future__ import annotations

import re
from typing import Any

SECRET_KEY_PATTERN = re.compile(r"(secret|token(?!s)|password|passwd|api[_-]?key|authorization|signature|"
                                r"encrypt|aes[_-]?key|credential|private[_-]?key)", re.I)
MASK = "***"


def redact(value: Any) -> Any:
    """A copy of `value` with every field whose name looks secret replaced by a mask.

    Fields named like `*_env` hold the *name* of an environment variable, not a secret, and stay.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = str(key)
            if SECRET_KEY_PATTERN.search(name) and not name.endswith("_env") and item not in ("", None):
                out[key] = MASK
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
