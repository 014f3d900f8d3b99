"""Readiness: can this bridge do its work right now, part by part?

Liveness (``/health``) says the process answers; readiness says whether the parts it depends
on are there: AMI logged in (and the tracker resynced), the database reachable and migrated,
the FastAGI server listening. A load balancer or an operator's probe reads it; it is
unauthenticated, so a check reports one of a few fixed words, never an exception's text (which
may carry an address, a user name or a query).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 2.0  # a probe that takes longer counts as not ready ("no answer")
REUSE_S = 1.0  # a report this young is answered again: unauthenticated callers cannot make
# the bridge probe its database more than once a second, however often they ask


@dataclass(frozen=True, slots=True)
class PartState:
    """One part's state: ``ready``, and a short fixed word saying what it is."""

    ready: bool
    state: str


Probe = Callable[[], Awaitable[PartState]]


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    parts: Mapping[str, PartState]

    @property
    def ready(self) -> bool:
        return all(p.ready for p in self.parts.values())

    @property
    def not_ready(self) -> list[str]:
        return sorted(name for name, p in self.parts.items() if not p.ready)


class Readiness:
    """Runs every part's probe at once, each bounded by ``timeout_s``; concurrent and repeated
    requests within ``reuse_s`` share one round of probes."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        timeout_s: float = CHECK_TIMEOUT_S,
        reuse_s: float = REUSE_S,
    ) -> None:
        self._probes = dict(probes)
        self._timeout_s = timeout_s
        self._reuse_s = reuse_s
        self._last: tuple[float, asyncio.Future[ReadinessReport]] | None = None

    async def report(self) -> ReadinessReport:
        loop = asyncio.get_running_loop()
        if self._last is None or loop.time() - self._last[0] >= self._reuse_s:
            self._last = (loop.time(), asyncio.ensure_future(self._probe_all()))
        return await asyncio.shield(self._last[1])

    async def _probe_all(self) -> ReadinessReport:
        names = list(self._probes)
        states = await asyncio.gather(*(self._run(name) for name in names))
        return ReadinessReport(dict(zip(names, states, strict=True)))

    async def _run(self, name: str) -> PartState:
        try:
            return await asyncio.wait_for(self._probes[name](), self._timeout_s)
        except TimeoutError:
            return PartState(False, "no answer")
        except Exception:
            log.exception("readiness probe %s failed", name)
            return PartState(False, "check failed")
