"""Session checks remembered for a short while, so a request with a valid token does not
read the sessions table: forgotten for a user the moment their sessions change, on this
replica at once and on the others through the BFF's version bus."""

from __future__ import annotations

import uuid

import cachetools


class SessionChecks:
    """Sessions found live, by id; a user's are forgotten together."""

    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        # session id -> (user id, the user's epoch when it was found live)
        self._live: cachetools.TTLCache[uuid.UUID, tuple[uuid.UUID, int]] = cachetools.TTLCache(
            max_entries, ttl_s
        )
        # user id -> how many times their sessions changed lately; kept twice as long as any
        # remembered session, so no entry outlives the epoch it was recorded under.
        self._epochs: cachetools.TTLCache[uuid.UUID, int] = cachetools.TTLCache(
            max_entries, ttl_s * 2
        )
        self._listening = False

    def listening(self, on: bool) -> None:
        """Whether changes from the other replicas are heard now; while not, nothing is
        remembered (and what was, is forgotten)."""
        self._listening = on
        self.forget_all()

    def is_live(self, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Whether this session of this user was found live, and nothing changed since."""
        entry = self._live.get(session_id)
        return entry is not None and entry == (user_id, self._epochs.get(user_id, 0))

    def remember(self, session_id: uuid.UUID, user_id: uuid.UUID) -> None:
        if self._listening:
            self._live[session_id] = (user_id, self._epochs.get(user_id, 0))

    def forget_user(self, user_id: uuid.UUID) -> None:
        """The user's sessions changed: check each of them again."""
        self._epochs[user_id] = self._epochs.get(user_id, 0) + 1

    def forget_all(self) -> None:
        """Changes may have been missed (the bus was lost): check every session again."""
        self._live.clear()
