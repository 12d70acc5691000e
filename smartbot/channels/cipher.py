"""AES-256-CBC decryption with PKCS#7 padding, as Feishu and WeCom encrypt their callbacks.

Both platforms use the same cipher but differ in where the IV comes from and in the padding
block (Feishu 16 bytes, WeCom 32 bytes); the channel modules supply those. This module only
decrypts: it never decides whether a request is authentic, and its errors never include key
material or plaintext.
"""
from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES_BLOCK = 16


class DecryptError(ValueError):
    """The data does not decrypt with this key (wrong key, truncated or altered data)."""


def decrypt_cbc(key: bytes, iv: bytes, data: bytes, pad_block: int = AES_BLOCK) -> bytes:
    """Decrypt `data` and strip PKCS#7 padding made for blocks of `pad_block` bytes."""
    if len(key) != 32 or len(iv) != AES_BLOCK:
        raise DecryptError("AES-256-CBC needs a 32-byte key and a 16-byte IV")
    if not data or len(data) % AES_BLOCK:
        raise DecryptError(f"ciphertext length {len(data)} is not a multiple of {AES_BLOCK}")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= pad_block or padded[-pad:] != bytes([pad]) * pad:
        raise DecryptError("padding is wrong: the key does not match")
    return padded[:-pad]
