"""Seal and open small secrets at rest under the server's KEY_ENCRYPTION_KEY.

API key secrets (the S3 secret keys) must be available in clear to verify SigV4
signatures, so they cannot be hashed like passwords or tokens; they are encrypted
instead. AES-256-GCM (``cryptography``), with:

- the AES key derived from ``KEY_ENCRYPTION_KEY`` by HKDF-SHA256, so the setting can be
  any strong text (like ``JWT_SECRET``) and the raw setting is never the cipher key;
- a fresh 96-bit random nonce per seal, stored in front of the ciphertext and tag;
- associated data naming the row (the key id), so a sealed secret moved to another row
  does not open;
- a ``kek_id`` (an HMAC of a fixed label under the derived key, 16 hex digits) stored
  with each sealed value, so a master started with another KEY_ENCRYPTION_KEY recognises
  that it cannot open a value instead of failing inside the cipher.

Nothing here logs; errors never include the key or the plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from common.errors import Unavailable

__all__ = ["SecretBox"]

_INFO = b"echofs api key secrets v1"
_NONCE_BYTES = 12


class SecretBox:
    def __init__(self, key_encryption_key: str, info: bytes = _INFO) -> None:
        """``info`` separates uses of one key (HKDF): API key secrets, webhook secrets."""
        if not key_encryption_key:
            raise ValueError("SecretBox needs a non-empty key")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=info).derive(key_encryption_key.encode())
        self._aead = AESGCM(derived)
        self.kek_id = hmac.new(derived, b"echofs kek id", hashlib.sha256).hexdigest()[:16]

    def seal(self, plaintext: str, associated: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), associated.encode())

    def open(self, sealed: bytes, associated: str, kek_id: str) -> str:
        """The plaintext; Unavailable when it was sealed under another server key or
        does not open (tampered, or moved from another row)."""
        if not hmac.compare_digest(kek_id, self.kek_id):
            raise Unavailable("this secret was sealed under another KEY_ENCRYPTION_KEY")
        nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, associated.encode()).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise Unavailable("a sealed secret failed its integrity check") from None
