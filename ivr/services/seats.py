"""Provisioning agent seats: a record in our database, an endpoint in Asterisk, no restart.

Adding a seat generates its secret here, stores only the digest hash, rewrites the whole
generated include from the table (so the file always equals the table) and has Asterisk reload
res_pjsip. The secret is returned once to whoever added the seat and is kept nowhere.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ivr.domain.access import Principal, Role
from ivr.domain.seats import (
    Seat,
    SeatNameError,
    check_realm,
    check_seat_name,
    password_digest,
    render_seats_conf,
)

log = logging.getLogger(__name__)
SECRET_BYTES = 18  # 24 URL-safe characters, 144 bits: no brute force over digest auth


class SeatStore(Protocol):
    async def add(self, seat: Seat) -> bool:
        """False if a seat of that name exists (nothing written)."""
        ...

    async def remove(self, name: str) -> bool: ...

    async def get(self, name: str) -> Seat | None: ...

    async def all(self) -> list[Seat]: ...


class SeatConfig(Protocol):
    def write(self, text: str) -> None:
        """Replace the generated include atomically (readers see the old or the new file)."""
        ...


class PjsipReloader(Protocol):
    async def reload(self, present: str | None = None, absent: str | None = None) -> None:
        """Have Asterisk re-read its PJSIP configuration; raise unless it then has endpoint
        ``present`` and lacks ``absent``."""
        ...


class SeatError(Exception):
    """Refused or failed; ``status`` says how (the web layer maps it to HTTP)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class NewSeat:
    """A seat just added, with the only copy of its secret (``repr`` hides it)."""

    seat: Seat
    realm: str
    secret: str = field(repr=False)


class SeatService:
    def __init__(
        self,
        store: SeatStore,
        config: SeatConfig | None,
        reloader: PjsipReloader | None,
        realm: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._config = config  # None: this bridge has no seats directory configured
        self._reloader = reloader
        self.realm = check_realm(realm)
        self._clock = clock

    async def list(self, who: Principal) -> list[Seat]:
        _allowed(who)
        return await self._store.all()

    async def get(self, name: str) -> Seat | None:
        """The seat of that name (for checking an agent's device), without a permission check."""
        try:
            return await self._store.get(check_seat_name(name))
        except SeatNameError:
            return None

    async def add(self, who: Principal, name: str) -> NewSeat:
        _allowed(who)
        name = _name(name)
        self._configured()
        secret = secrets.token_urlsafe(SECRET_BYTES)
        seat = Seat(name, password_digest(name, self.realm, secret), self._clock(), who.name)
        if not await self._store.add(seat):
            raise SeatError(409, f"seat {name} exists already")
        try:
            await self._apply(present=name)
        except Exception as exc:
            # take it back: a seat Asterisk may not know must not be handed out
            await self._store.remove(name)
            try:
                await self._apply(absent=name)
            except Exception:
                log.exception("seat %s: rolling the seats file back failed too", name)
            raise SeatError(
                503,
                f"seat {name} not added, Asterisk was not updated ({type(exc).__name__}: {exc})",
            ) from exc
        log.info("seat %s added by %s", name, who.name)
        return NewSeat(seat, self.realm, secret)

    async def remove(self, who: Principal, name: str) -> None:
        _allowed(who)
        name = _name(name)
        self._configured()
        if not await self._store.remove(name):
            raise SeatError(404, f"no seat {name}")
        try:
            await self._apply(absent=name)
        except Exception as exc:
            raise SeatError(
                503,
                f"seat {name} removed from the database but Asterisk still has it "
                f"({type(exc).__name__}: {exc}); "
                "run `ivr seat sync`",
            ) from exc
        log.info("seat %s removed by %s", name, who.name)

    async def sync(self) -> int:
        """Write the include from the table and reload (after a restore, or a failed remove)."""
        self._configured()
        await self._apply()
        return len(await self._store.all())

    async def _apply(self, present: str | None = None, absent: str | None = None) -> None:
        assert self._config is not None and self._reloader is not None
        self._config.write(render_seats_conf(await self._store.all(), self.realm))
        await self._reloader.reload(present, absent)

    def _configured(self) -> None:
        if self._config is None or self._reloader is None:
            raise SeatError(
                503, "seats are not configured here (seats.conf_dir and the seats AMI secret)"
            )


def _allowed(who: Principal) -> None:
    if not who.may(frozenset({Role.SUPERVISOR})):
        raise SeatError(403, f"role {who.role.value!r} may not manage seats")


def _name(name: str) -> str:
    try:
        return check_seat_name(name)
    except SeatNameError as exc:
        raise SeatError(400, str(exc)) from None
