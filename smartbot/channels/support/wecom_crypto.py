"""WeCom's callback encryption: the AES key from EncodingAESKey, and decrypting one message.

Key = base64-decode(EncodingAESKey + "=") (32 bytes), IV = the key's first 16 bytes,
AES-256-CBC with PKCS#7 padding to 32-byte blocks. The plaintext is 16 random bytes, a 4-byte
big-endian length, the message, then the receive id, which must be our corp id: a message
encrypted for another company is refused even when it decrypts. Errors name the setting to
check, never the key or the plaintext.
"""
from __future__ import annotations

import base64
import binascii
import hmac

from ...errors import ConfigError, PayloadError, SignatureError
from .cipher import AES_BLOCK, DecryptError, decrypt_cbc

KEY_LENGTH = 43
PAD_BLOCK = 32


def aes_key(encoding_aes_key: str, key_name: str) -> bytes:
    """The 32-byte AES key, or ConfigError naming `key_name` and what a valid value looks like."""
    fix = "copy the 43-character EncodingAESKey from the app's API receive settings"
    if len(encoding_aes_key) != KEY_LENGTH:
        raise ConfigError(key_name, f"must be {KEY_LENGTH} characters, got {len(encoding_aes_key)}", fix)
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(key_name, "is not base64 (letters, digits, + and / only)", fix) from None
    if len(key) != 32:
        raise ConfigError(key_name, "does not decode to a 32-byte key", fix)
    return key


def decrypt(key: bytes, encrypted: str, corp_id: str) -> str:
    """The message inside `encrypted`; SignatureError when it is not for our key and corp id."""
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("the encrypted message is not base64") from None
    try:
        plain = decrypt_cbc(key, key[:AES_BLOCK], data, PAD_BLOCK)
    except DecryptError:
        raise SignatureError("the message does not decrypt with channels.wecom.encoding_aes_key: check that it "
                             "matches the app's API receive settings") from None
    if len(plain) < 20:
        raise SignatureError("the decrypted message is too short: check channels.wecom.encoding_aes_key")
    length = int.from_bytes(plain[16:20], "big")
    if 20 + length > len(plain):
        raise SignatureError("the decrypted message length is wrong: check channels.wecom.encoding_aes_key")
    message, receive_id = plain[20:20 + length], plain[20 + length:]
    if not hmac.compare_digest(receive_id, corp_id.encode("utf-8")):
        raise SignatureError("the message is for another receive id: check channels.wecom.corp_id")
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("the decrypted message is not UTF-8") from None
