"""The audit chain's keys, kept outside the database: whoever can write the database but holds no
key cannot rehash a row they changed.

Two sources, one per deployment. By default the key is derived from SmartBot's signing key (an
HMAC of a fixed label, so the audit key is never the JWT key itself and reveals nothing about it).
With `[audit] key_file` set, the keys live in that file instead, one hex key per line, the last one
signing new rows and the older ones kept for verifying the rows they signed; the file must be
readable by its owner only. A key is named by its id, a fingerprint that reveals nothing about
it. This module never logs, prints or stores a key, only ids.

The keyring is loaded once per process (`install`, by the Runtime and the command line); the key
file is read again only when the chain names a key this process does not hold yet (another
process rotated it).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

DERIVE_LABEL = b"smartbot audit chain key v1"
ID_LABEL = b"smartbot audit key id"
KEY_BYTES = 32
FILE_HEADER = ("# SmartBot audit chain keys (smartbot audit rotate-key writes them): one hex key a line,\n"
               "# the last one signs new rows. Keep every line: older rows are verified with theirs.\n")


class AuditKeyError(ConfigError):
    """The chain needs a key this process cannot have (the key file or the signing key changed)."""


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", key_id(self.secret))

    def sign(self, text: str) -> str:
        return hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def key_id(secret: bytes) -> str:
    return "ak-" + hmac.new(secret, ID_LABEL, hashlib.sha256).hexdigest()[:16]


def derived_key(signing_key: str) -> AuditKey:
    """The audit key that belongs to a signing key (the default source)."""
    return AuditKey(hmac.new(signing_key.encode("utf-8"), DERIVE_LABEL, hashlib.sha256).digest())


def new_key() -> AuditKey:
    return AuditKey(secrets.token_bytes(KEY_BYTES))


class Keyring:
    """The keys one process may sign and verify with; `current` signs new rows."""

    def __init__(self, keys: list[AuditKey], key_file: str = "") -> None:
        if not keys:
            raise ConfigError("audit.key_file", f"{key_file} holds no key",
                              "create it with `smartbot audit rotate-key`")
        self.keys = {k.id: k for k in keys}
        self.current = keys[-1]
        self.key_file = key_file

    @property
    def source(self) -> str:
        return f"the key file {self.key_file}" if self.key_file else "derived from the signing key"

    def get(self, key_id: str) -> AuditKey | None:
        return self.keys.get(key_id)

    def reloaded(self) -> Keyring:
        """The key file read again (another process may have added a key); self when derived."""
        return Keyring(read_key_file(self.key_file), self.key_file) if self.key_file else self


def load(signing_key: str, key_file: str = "") -> Keyring:
    if key_file:
        if not os.path.exists(key_file):
            raise ConfigError("audit.key_file", f"{key_file} does not exist",
                              "create it with `smartbot audit rotate-key` (it keeps the current audit key in it)")
        return Keyring(read_key_file(key_file), key_file)
    return Keyring([derived_key(signing_key)])


def read_key_file(path: str) -> list[AuditKey]:
    """The keys in the file, oldest first. Refused unless only its owner may read it."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("audit.key_file", f"{path} cannot be read ({type(exc).__name__})",
                          "point it at the file `smartbot audit rotate-key` wrote") from None
    if mode & 0o077:
        raise ConfigError("audit.key_file", f"{path} may be read by other users (mode {mode:04o})",
                          f"chmod 600 {path}")
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            secret = bytes.fromhex(line)
        except ValueError:
            secret = b""
        if len(secret) < KEY_BYTES:
            raise ConfigError("audit.key_file", f"line {number} of {path} is not a key of {KEY_BYTES * 2} hex digits",
                              "restore the file from a backup; never edit a key by hand")
        keys.append(AuditKey(secret))
    return keys


def write_key_file(path: str, keys: list[AuditKey]) -> None:
    """Replace the file atomically, readable by its owner only, every key kept."""
    folder = os.path.dirname(os.path.abspath(path))
    lines = [FILE_HEADER]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for key in keys:
        lines.append(f"# {key.id}\n{key.secret.hex()}\n")
    lines[-1] = f"# {keys[-1].id} (current since {stamp})\n{keys[-1].secret.hex()}\n"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".audit-keys-")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


_installed: Keyring | None = None


def install(keyring: Keyring | None) -> None:
    """The keyring this process signs and verifies with (the Runtime, the gunicorn master and the
    command line set it from the settings; None forgets it)."""
    global _installed
    _installed = keyring


def active() -> Keyring:
    """The installed keyring (`install`, done by the Runtime, the gunicorn master and the CLI when
    they read the settings). Audit rows are never written under a key nobody chose."""
    if _installed is None:
        raise RuntimeError("the audit keys are not loaded: install them first "
                           "(smartbot.audit.keys.install(smartbot.audit.keys.load(secret_key, key_file)))")
    return _installed
