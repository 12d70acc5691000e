"""AES-256-CBC decryption with PKCS#7 padding, as Feishu and WeCom encrypt their callbacks.

Both platforms use the same cipher but differ in where the IV comes from and in the padding
block (Feishu 16 bytes, WeCom 32 bytes); the channel modules supply those. This module only
decrypts: it never decides whether a request is authentic, and its errors never include key
material or plaintext. CBC without a MAC is malleable, so callers authenticate (a signature over
the ciphertext) before they decrypt; where a platform sends something unsigned, `open_cbc` lets
the caller fold a padding failure into its other failures, so no answer or timing tells them apart
(a padding oracle would give the plaintext away a byte at a time).
"""
from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES_BLOCK = 16


class DecryptError(ValueError):
    """The data does not decrypt with this key (wrong key, truncated or altered data)."""


def decrypt_cbc(key: bytes, iv: bytes, data: bytes, pad_block: int = AES_BLOCK) -> bytes:
    """Decrypt `data` and strip PKCS#7 padding made for blocks of `pad_block` bytes."""
    plain, padded_well = open_cbc(key, iv, data, pad_block)
    if not padded_well:
        raise DecryptError("padding is wrong: the key does not match")
    return plain


def open_cbc(key: bytes, iv: bytes, data: bytes, pad_block: int = AES_BLOCK) -> tuple[bytes, bool]:
    """(plaintext, padding was valid): the padding is judged without an early exit, and a bad one
    still yields the whole decrypted data, so the caller does the same work either way.
    DecryptError only for what the sender can see without the key (key, IV or length)."""
    if len(key) != 32 or len(iv) != AES_BLOCK:
        raise DecryptError("AES-256-CBC needs a 32-byte key and a 16-byte IV")
    if not data or len(data) % AES_BLOCK:
        raise DecryptError(f"ciphertext length {len(data)} is not a multiple of {AES_BLOCK}")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    pad_length = _pad_length(padded, pad_block)
    return padded[:len(padded) - pad_length], pad_length > 0


def _pad_length(padded: bytes, pad_block: int) -> int:
    """The PKCS#7 pad length, or 0 when the padding is invalid. Every call reads the same number
    of bytes and takes the same branches whatever their values."""
    pad = padded[-1]
    tail = padded[-pad_block:]
    mismatch = int(pad == 0) | int(pad > min(pad_block, len(padded)))
    for position in range(1, len(tail) + 1):
        mismatch |= int(position <= pad) & int(tail[-position] != pad)
    return pad * (1 - mismatch)
