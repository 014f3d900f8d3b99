"""Slowing down a source that keeps presenting bad tokens (guessing, or a broken integration).

After ``free`` failures a source must wait before its next try: ``first`` seconds, doubling
with every further failure up to ``cap``. Any request from it during the wait is refused
without looking at its token, so guessing costs the guesser time, not us database reads. A
success clears the source. Memory is bounded: the oldest sources are forgotten first.

>>> t = AuthThrottle(free=2, first_s=1.0, cap_s=8.0, max_sources=100)
>>> [t.failed("a", now=0.0) for _ in range(5)]  # two free, then 1, 2, 4 s
[0.0, 0.0, 1.0, 2.0, 4.0]
>>> t.wait_s("a", now=1.0), t.wait_s("b", now=1.0)
(3.0, 0.0)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Source:
    failures: int = 0
    blocked_until: float = 0.0


class AuthThrottle:
    def __init__(
        self, free: int = 5, first_s: float = 1.0, cap_s: float = 300.0, max_sources: int = 10_000
    ) -> None:
        if free < 0 or first_s <= 0 or cap_s < first_s or max_sources < 1:
            raise ValueError("free >= 0, 0 < first_s <= cap_s, max_sources >= 1")
        self.free, self.first_s, self.cap_s = free, first_s, cap_s
        self._max = max_sources
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    def wait_s(self, source: str, now: float) -> float:
        """Seconds ``source`` must still wait before a token of its is looked at (0: go on)."""
        found = self._sources.get(source)
        return 0.0 if found is None else max(0.0, found.blocked_until - now)

    def failed(self, source: str, now: float) -> float:
        """Record a bad token from ``source``; returns how long it must now wait."""
        found = self._sources.pop(source, None) or _Source()
        found.failures += 1
        over = found.failures - self.free
        if over > 0:
            found.blocked_until = now + min(self.cap_s, self.first_s * 2 ** (over - 1))
        self._sources[source] = found
        while len(self._sources) > self._max:
            self._sources.popitem(last=False)
        return max(0.0, found.blocked_until - now)

    def succeeded(self, source: str) -> None:
        self._sources.pop(source, None)
