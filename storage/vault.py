"""The token vault: AES-256-GCM encryption of every token before it reaches the database.

Each ciphertext is stored as one blob:

    b"v1" | key id (8 bytes) | nonce (12 bytes) | ciphertext with GCM tag

The nonce is random for every encryption. The associated data names the workspace, the
user and the field, so a ciphertext copied into another row or column fails to decrypt.
The key id lets `rotate-key` find rows still under an old key while old keys decrypt.
There is no plaintext fallback: a vault cannot be built without a valid 32-byte key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT = b"v1"
_KEY_ID_BYTES = 8
_NONCE_BYTES = 12
_HEADER_BYTES = len(_FORMAT) + _KEY_ID_BYTES + _NONCE_BYTES


class VaultError(Exception):
    """Raised when a ciphertext cannot be decrypted. Never carries plaintext or key material."""


@dataclass(frozen=True)
class TokenContext:
    """Where a ciphertext belongs. It is bound to the ciphertext as associated data."""

    kind: str  # the table, such as "linkedin_connection" or "slack_installation"
    field: str  # the column, such as "access_token"
    team_id: str
    user_id: str = ""

    def associated_data(self) -> bytes:
        return "\x1f".join(("companycore", self.kind, self.field, self.team_id, self.user_id)).encode()

    def describe(self) -> str:
        user = f" user {self.user_id}" if self.user_id else ""
        return f"{self.kind}.{self.field} of workspace {self.team_id}{user}"


def key_id(key: bytes) -> bytes:
    """Return a short, non-secret identifier of a key."""
    return hashlib.sha256(b"companycore key id\x00" + key).digest()[:_KEY_ID_BYTES]


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


class TokenVault:
    """Encrypts with the current key; decrypts with the current key or any old key."""

    def __init__(self, key: bytes, old_keys: list[bytes] | tuple[bytes, ...] = ()):
        for candidate in (key, *old_keys):
            if len(candidate) != 32:
                raise ValueError("an AES-256 key must be 32 bytes long")
        self._current_id = key_id(key)
        self._ciphers = {key_id(k): AESGCM(k) for k in (*old_keys, key)}

    def __repr__(self) -> str:
        return f"TokenVault(key_id={self._current_id.hex()}, keys={len(self._ciphers)})"

    @property
    def current_key_id(self) -> bytes:
        return self._current_id

    def encrypt(self, plaintext: str, context: TokenContext) -> bytes:
        if not isinstance(plaintext, str) or plaintext == "":
            raise ValueError(f"refusing to encrypt an empty value for {context.describe()}")
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._current_id].encrypt(
            nonce, plaintext.encode(), context.associated_data()
        )
        return _FORMAT + self._current_id + nonce + sealed

    def decrypt(self, blob: bytes, context: TokenContext) -> str:
        blob = bytes(blob)
        if len(blob) <= _HEADER_BYTES or not blob.startswith(_FORMAT):
            raise VaultError(f"{context.describe()} is not a vault ciphertext")
        blob_key_id = blob[len(_FORMAT):len(_FORMAT) + _KEY_ID_BYTES]
        cipher = self._ciphers.get(blob_key_id)
        if cipher is None:
            raise VaultError(
                f"{context.describe()} was encrypted with a key that is not configured "
                f"(key id {blob_key_id.hex()}); add it to TOKEN_ENCRYPTION_OLD_KEYS"
            )
        nonce = blob[len(_FORMAT) + _KEY_ID_BYTES:_HEADER_BYTES]
        try:
            return cipher.decrypt(nonce, blob[_HEADER_BYTES:], context.associated_data()).decode()
        except InvalidTag:
            raise VaultError(
                f"{context.describe()} failed to decrypt: the ciphertext was altered or "
                "belongs to another row or field"
            ) from None

    def needs_rotation(self, blob: bytes) -> bool:
        return bytes(blob)[len(_FORMAT):len(_FORMAT) + _KEY_ID_BYTES] != self._current_id

    def reencrypt(self, blob: bytes, context: TokenContext) -> bytes:
        return self.encrypt(self.decrypt(blob, context), context)
