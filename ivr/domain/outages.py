"""Customers, their supply areas, and outages (停电信息): what a caller in an area hears.

Pure rules: which outage covers a customer (their area or their feeder is among the outage's,
and the outage has started and is not closed), the notice text read to them, and the index the
menu looks callers up in (built off the call path, read in microseconds on it). The CSV files
are checked row by row in ``outage_files``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum

from ivr.domain.spoken import clock_time, integer

ACCOUNT_NO = re.compile(r"^[0-9]{6,20}$")  # 户号: digits only, as keyed on a phone
AREA = re.compile(r"^[^\x00-\x1f\x7f,;|]{1,64}$")  # a 供电区域 or feeder (线路) name
ACCOUNT_MAX_DIGITS = 20
NOTICE = "您所在的{area}因{cause}停电，预计{when}恢复供电。"
NOTICE_KEYS = "重听请按1，进入主菜单请按2。"
NO_OUTAGE = "您所在的区域目前没有停电信息。"
ASK_ACCOUNT = "请输入您的户号，以井号键结束。"
UNKNOWN_ACCOUNT = "对不起，没有查到这个户号。"


class OutageKind(StrEnum):
    PLANNED = "planned"  # 计划停电: from the weekly schedule
    FAULT = "fault"  # 故障停电: declared when it happens


class OutageState(StrEnum):
    OPEN = "open"  # declared or scheduled; active from its start
    CLOSED = "closed"  # power restored: linked repair orders closed with its resolution
    CANCELLED = "cancelled"  # a planned outage that did not take place


class OutageError(ValueError):
    """Input an outage or a customer cannot take; the message says which field and why."""


class OutageNotFound(LookupError):
    pass


class OutageConflict(Exception):
    """The change does not fit the outage's state (closing one already closed …)."""


class CustomerNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Customer:
    account_no: str  # 户号
    name: str
    phones: tuple[str, ...]  # digits, as a calling number arrives
    address: str
    area: str  # 供电区域
    feeder: str | None = None  # 线路 / 台区


@dataclass(frozen=True, slots=True)
class Outage:
    id: int
    kind: OutageKind
    areas: tuple[str, ...]
    feeders: tuple[str, ...]
    starts_at: datetime
    expected_at: datetime  # expected restoration
    cause: str
    state: OutageState
    resolution: str | None = None
    closed_at: datetime | None = None
    dispatch_order_id: int | None = None  # the one repair order whose crew dispatch serves all

    def active(self, now: datetime) -> bool:
        return self.state is OutageState.OPEN and self.starts_at <= now

    def covers(self, area: str, feeder: str | None) -> bool:
        return area in self.areas or (feeder is not None and feeder in self.feeders)

    def place_for(self, area: str, feeder: str | None) -> str:
        """The name the caller hears: their area if the outage lists it, else their feeder."""
        if area in self.areas or feeder is None:
            return area
        return feeder


def check_account_no(value: str) -> str:
    value = value.strip()
    if not ACCOUNT_NO.match(value):
        raise OutageError("account_no: 6 to 20 digits")
    return value


def check_place(value: str, what: str) -> str:
    value = value.strip()
    if not AREA.match(value):
        raise OutageError(f"{what}: 1 to 64 characters, no commas, semicolons or bars")
    return value


def check_window(starts_at: datetime, expected_at: datetime) -> None:
    if starts_at.tzinfo is None or expected_at.tzinfo is None:
        raise OutageError("start and expected restoration need their UTC offset")
    if expected_at <= starts_at:
        raise OutageError("expected restoration must come after the start")


def spoken_when(moment: datetime, zone: tzinfo, now: datetime) -> str:
    """``今天十八点三十分``, ``明天八点整``, or ``十二月六日九点整``: as a hotline says it."""
    local = moment.astimezone(zone)
    days = (local.date() - now.astimezone(zone).date()).days
    if days == 0:
        day = "今天"
    elif days == 1:
        day = "明天"
    else:
        day = integer(local.month) + "月" + integer(local.day) + "日"
    return day + clock_time(local.time())


def notice_text(outage: Outage, place: str, zone: tzinfo, now: datetime) -> str:
    when = spoken_when(outage.expected_at, zone, now)
    return NOTICE.format(area=place, cause=outage.cause, when=when)


@dataclass(frozen=True, slots=True)
class Notice:
    """What one caller hears: the outage and the text (rendered ahead of time by the index)."""

    outage_id: int
    text: str


@dataclass(frozen=True, slots=True)
class CustomerPlace:
    """Where a customer is supplied from: all the index keeps of them."""

    area: str
    feeder: str | None


@dataclass
class OutageIndex:
    """Active outages by calling number and by 户号, for the customers they cover.

    Built from the active outages and only the customers of their areas/feeders, so a calm day
    holds nothing, and a caller's lookup is two dictionary reads.
    """

    by_phone: dict[str, Notice] = field(default_factory=dict)
    by_account: dict[str, Notice] = field(default_factory=dict)
    outages: tuple[Outage, ...] = ()

    @classmethod
    def build(
        cls,
        outages: Sequence[Outage],
        customers: Iterable[Customer],
        zone: tzinfo,
        now: datetime,
    ) -> OutageIndex:
        active = sorted((o for o in outages if o.active(now)), key=lambda o: (o.expected_at, o.id))
        index = cls(outages=tuple(active))
        if not active:
            return index
        texts: dict[tuple[int, str], Notice] = {}
        for customer in customers:
            # the outage ending last decides what the caller waits for
            found = [o for o in active if o.covers(customer.area, customer.feeder)]
            if not found:
                continue
            outage = found[-1]
            place = outage.place_for(customer.area, customer.feeder)
            notice = texts.get((outage.id, place))
            if notice is None:
                notice = Notice(outage.id, notice_text(outage, place, zone, now))
                texts[(outage.id, place)] = notice
            index.by_account[customer.account_no] = notice
            for phone in customer.phones:
                index.by_phone[phone] = notice
        return index

    def texts(self) -> set[str]:
        return {n.text for n in self.by_account.values()}

    def for_phone(self, phone: str) -> Notice | None:
        for number in calling_forms(phone):
            if (notice := self.by_phone.get(number)) is not None:
                return notice
        return None

    def for_account(self, account_no: str) -> Notice | None:
        return self.by_account.get(account_no)


def calling_forms(number: str) -> list[str]:
    """The register's form(s) of a calling number: as sent, without the country code
    (``+86``/``0086``/``86``), and a mobile without the ``0`` some carriers put before it."""
    digits = number.removeprefix("+")
    forms = [number]
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 10:
            digits = digits[len(prefix) :]
            forms.append(digits)
            break
    if len(digits) == 12 and digits.startswith("01") and digits[2] in "3456789":
        forms.append(digits[1:])
    return forms


def places(outages: Sequence[Outage]) -> tuple[set[str], set[str]]:
    """The areas and feeders of these outages (which customers the index must load)."""
    areas = {a for o in outages for a in o.areas}
    feeders = {f for o in outages for f in o.feeders}
    return areas, feeders


@dataclass(frozen=True, slots=True)
class OutageChange:
    at: datetime
    actor: str
    change: str  # created, updated, closed, cancelled, linked
    detail: Mapping[str, object]
