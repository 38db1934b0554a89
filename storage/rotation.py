"""Re-encryption of every stored token under the current key (`companycore rotate-key`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.connections import rotate_connection_keys
from storage.installations import rotate_installation_keys
from storage.vault import TokenVault


def rotate_all(session: Session, vault: TokenVault) -> int:
    """Re-encrypt every token not yet under the current key. Return how many were rewritten."""
    return rotate_connection_keys(session, vault) + rotate_installation_keys(session, vault)
