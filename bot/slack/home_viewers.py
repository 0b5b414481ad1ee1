"""Who opened the App Home tab in this process (their Home is refreshed as things change)."""

from __future__ import annotations

import threading


class HomeViewers:
    """Who opened the Home tab in this process (their Home is refreshed as things change).
    Bounded; a user not in it gets a fresh Home the next time they open the tab."""

    LIMIT = 500

    def __init__(self) -> None:
        self._users: dict[str, None] = {}
        self._lock = threading.Lock()

    def add(self, user: str) -> None:
        with self._lock:
            self._users.pop(user, None)
            self._users[user] = None
            while len(self._users) > self.LIMIT:
                self._users.pop(next(iter(self._users)))

    def all(self) -> list[str]:
        with self._lock:
            return list(self._users)

    def __contains__(self, user: object) -> bool:
        with self._lock:
            return user in self._users
