"""Seat names, the digest hash, the generated include, and the seat service's rules (add,
remove, roll back) with in-memory stand-ins for the table, the file and the reload."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.asterisk.seat_conf import FileSeatConfig
from ivr.domain.access import Principal, Role
from ivr.domain.seats import (
    Seat,
    SeatNameError,
    check_seat_name,
    password_digest,
    render_seats_conf,
)
from ivr.services.seats import SeatError, SeatService

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
SUPERVISOR = Principal("sup", Role.SUPERVISOR)


@pytest.mark.parametrize(
    "name",
    ["", "a" * 33, "a-b", "a_b", "8001&PJSIP/x", "x@trunk", "a b", "a\nb", "a]", "座席", "１２"],
)
def test_seat_names_are_letters_and_digits_only(name: str) -> None:
    with pytest.raises(SeatNameError):
        check_seat_name(name)


def test_anonymous_is_reserved_and_plain_names_pass() -> None:
    for name in ("anonymous", "Anonymous"):
        with pytest.raises(SeatNameError, match="reserved"):
            check_seat_name(name)
    assert check_seat_name("desk12") == "desk12"
    assert check_seat_name("a" * 32) == "a" * 32


def test_digest_is_rfc2617_ha1() -> None:
    expected = hashlib.md5(b"desk1:ivr95598:s3cret").hexdigest()
    assert password_digest("desk1", "ivr95598", "s3cret") == f"MD5:{expected}"


def test_include_holds_endpoint_auth_aor_and_no_secret() -> None:
    seat = Seat("desk1", password_digest("desk1", "ivr95598", "s3cret"), NOW, "sup")
    text = render_seats_conf([seat], "ivr95598")
    assert "s3cret" not in text
    assert "[desk1](agent-endpoint)" in text and "[desk1](agent-aor)" in text
    assert f"password_digest = {seat.password_digest}" in text
    assert "realm = ivr95598" in text and "auth_type = digest" in text
    assert "password =" not in text


def test_include_refuses_a_row_written_around_the_service() -> None:
    with pytest.raises(SeatNameError):
        render_seats_conf([Seat("x]\n[evil", "MD5:" + "0" * 32, NOW, "db")], "ivr95598")
    with pytest.raises(ValueError, match="digest"):
        render_seats_conf([Seat("desk1", "password", NOW, "db")], "ivr95598")


class MemoryStore:
    def __init__(self) -> None:
        self.seats: dict[str, Seat] = {}

    async def add(self, seat: Seat) -> bool:
        if seat.name in self.seats:
            return False
        self.seats[seat.name] = seat
        return True

    async def remove(self, name: str) -> bool:
        return self.seats.pop(name, None) is not None

    async def get(self, name: str) -> Seat | None:
        return self.seats.get(name)

    async def all(self) -> list[Seat]:
        return sorted(self.seats.values(), key=lambda s: s.name)


class Reloader:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str | None, str | None]] = []

    async def reload(self, present: str | None = None, absent: str | None = None) -> None:
        self.calls.append((present, absent))
        if self.fail:
            raise RuntimeError("AMI login refused")


def service(tmp_path: Path, reloader: Reloader) -> tuple[SeatService, MemoryStore, Path]:
    store = MemoryStore()
    config = FileSeatConfig(tmp_path)
    return SeatService(store, config, reloader, "ivr95598", lambda: NOW), store, config.path


async def test_add_returns_the_secret_once_and_stores_the_hash(tmp_path: Path) -> None:
    seats, store, path = service(tmp_path, reloader := Reloader())
    new = await seats.add(SUPERVISOR, "desk1")
    assert len(new.secret) >= 24 and new.secret not in repr(new)
    assert store.seats["desk1"].password_digest == password_digest("desk1", "ivr95598", new.secret)
    assert new.secret not in path.read_text() and "[desk1]" in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert reloader.calls == [("desk1", None)]
    other = await seats.add(SUPERVISOR, "desk2")
    assert other.secret != new.secret
    with pytest.raises(SeatError) as exists:
        await seats.add(SUPERVISOR, "desk1")
    assert exists.value.status == 409


async def test_only_supervisors_and_admins_manage_seats(tmp_path: Path) -> None:
    seats, store, _ = service(tmp_path, Reloader())
    for role in (Role.AGENT, Role.INTEGRATION):
        with pytest.raises(SeatError) as refused:
            await seats.add(Principal("x", role, "1001"), "desk1")
        assert refused.value.status == 403
    await seats.add(Principal("root", Role.ADMIN), "desk1")
    assert list(store.seats) == ["desk1"]


async def test_a_failed_reload_takes_the_seat_back(tmp_path: Path) -> None:
    seats, store, path = service(tmp_path, Reloader(fail=True))
    with pytest.raises(SeatError) as failed:
        await seats.add(SUPERVISOR, "desk1")
    assert failed.value.status == 503
    assert store.seats == {} and "[desk1]" not in path.read_text()


async def test_remove_rewrites_the_file_and_checks_the_endpoint_is_gone(tmp_path: Path) -> None:
    seats, store, path = service(tmp_path, reloader := Reloader())
    await seats.add(SUPERVISOR, "desk1")
    await seats.remove(SUPERVISOR, "desk1")
    assert "[desk1]" not in path.read_text() and store.seats == {}
    assert reloader.calls[-1] == (None, "desk1")
    with pytest.raises(SeatError) as missing:
        await seats.remove(SUPERVISOR, "desk1")
    assert missing.value.status == 404


async def test_without_a_seats_directory_changes_are_refused(tmp_path: Path) -> None:
    seats = SeatService(MemoryStore(), None, None, "ivr95598", lambda: NOW)
    with pytest.raises(SeatError) as off:
        await seats.add(SUPERVISOR, "desk1")
    assert off.value.status == 503


def test_the_seats_secret_alone_logs_in_as_the_seats_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting only IVR_SEATS__AMI__SECRET must not log in as the bridge's user."""
    from ivr.config import Settings

    monkeypatch.setenv("IVR_SEATS__AMI__SECRET", "x" * 20)
    seats = Settings().seats
    assert seats.ami.username == "ivr-seats" and seats.ami.secret_value() == "x" * 20
    assert Settings().ami.username == "ivr-bridge"
