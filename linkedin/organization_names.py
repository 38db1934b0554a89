"""A short-lived in-memory cache of LinkedIn Page names.

Page names are looked up live from LinkedIn and kept here only for a few minutes, so a
renamed Page shows its new name soon. This cache must never be persisted or shared
between processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_TTL_SECONDS = 300.0


class OrganizationNames:
    """Page names by organization ID, each kept for `ttl_seconds` of `clock` time.

    NOTE: one cache may serve several members. A member without access to a Page can then
    see its name from the cache, but never anything else about it.
    """

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get_or_fetch(self, organization_id: str, fetch: Callable[[str], str]) -> str:
        """Return the cached name, or call `fetch(organization_id)` and cache its result.

        Errors from `fetch` propagate and nothing is cached for them.
        """
        now = self._clock()
        with self._lock:
            entry = self._entries.get(organization_id)
            if entry is not None and entry[0] > now:
                return entry[1]

        # Fetch outside the lock, so one slow lookup does not block the others.
        name = fetch(organization_id)

        with self._lock:
            self._entries[organization_id] = (self._clock() + self.ttl_seconds, name)
            self._drop_expired(now)
        return name

    def clear(self) -> None:
        """Forget every cached name."""
        with self._lock:
            self._entries.clear()

    def _drop_expired(self, now: float) -> None:
        expired = [key for key, (expires, _) in self._entries.items() if expires <= now]
        for key in expired:
            del self._entries[key]
