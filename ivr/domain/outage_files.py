"""The two CSV files storm days run on, checked row by row: the customer register (an export of
the marketing system) and the weekly planned-outage schedule.

A bad row is reported with its line number and reason and the rest of the file is kept; a file
that cannot be read as such a CSV at all (wrong header, not UTF-8) is refused whole. Headers may
be English or the Chinese the utility's exports use; columns may come in any order.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Generic, TypeVar

from ivr.domain.outages import (
    Customer,
    OutageError,
    check_account_no,
    check_place,
    check_window,
)
from ivr.domain.phone import InvalidPhone, PhoneNumber
from ivr.domain.text_input import refused_character

MAX_ROWS = 2_000_000
MAX_FIELD = 500
_LIST_SPLIT = re.compile(r"[;；/、|\s]+")
_LOCAL_TIME = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S")

CUSTOMER_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "account_no": ("account_no", "户号"),
    "name": ("name", "户名", "姓名"),
    "phones": ("phones", "phone", "联系电话", "电话"),
    "address": ("address", "用电地址", "地址"),
    "area": ("area", "供电区域", "区域"),
    "feeder": ("feeder", "线路", "台区"),
}
CUSTOMER_REQUIRED = ("account_no", "name", "phones", "address", "area")

OUTAGE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "ref": ("ref", "计划编号", "编号"),
    "areas": ("areas", "停电区域", "区域"),
    "feeders": ("feeders", "停电线路", "线路"),
    "starts_at": ("starts_at", "start", "停电时间", "开始时间"),
    "expected_at": ("expected_at", "expected_restoration", "预计送电时间", "恢复时间"),
    "cause": ("cause", "停电原因", "原因"),
}
OUTAGE_REQUIRED = ("ref", "starts_at", "expected_at", "cause")


class UnusableFile(ValueError):
    """The file as a whole is not such a CSV; nothing in it is taken."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int  # the file's line number (the header is line 1)
    reason: str


@dataclass(frozen=True, slots=True)
class PlannedOutage:
    ref: str  # the schedule's own number: importing the same week twice changes nothing
    areas: tuple[str, ...]
    feeders: tuple[str, ...]
    starts_at: datetime
    expected_at: datetime
    cause: str


T = TypeVar("T")


@dataclass
class Parsed(Generic[T]):
    rows: list[tuple[int, T]] = field(default_factory=list)  # (line, value)
    problems: list[RowProblem] = field(default_factory=list)


def _rows(
    text: str, columns: Mapping[str, tuple[str, ...]], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise UnusableFile("the file is empty") from None
    except csv.Error as exc:
        raise UnusableFile(f"line 1: {exc}") from None
    names: dict[int, str] = {}
    for position, raw in enumerate(header):
        label = raw.strip()
        for name, labels in columns.items():
            if label in labels:
                if name in names.values():
                    raise UnusableFile(f"line 1: column {name} appears twice")
                names[position] = name
    missing = [name for name in required if name not in names.values()]
    if missing:
        raise UnusableFile(f"line 1: the header lacks {', '.join(missing)}")
    count = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UnusableFile(f"line {reader.line_num}: {exc}") from None
        if not any(v.strip() for v in values):
            continue
        count += 1
        if count > MAX_ROWS:
            raise UnusableFile(f"more than {MAX_ROWS} rows")
        row = {name: values[i].strip() if i < len(values) else "" for i, name in names.items()}
        yield reader.line_num, row


def _text(row: Mapping[str, str], name: str, required: bool = True) -> str:
    value = row.get(name, "")
    if required and not value:
        raise OutageError(f"{name} is empty")
    if len(value) > MAX_FIELD:
        raise OutageError(f"{name} is longer than {MAX_FIELD} characters")
    if (problem := refused_character(value)) is not None:
        raise OutageError(f"{name} contains {problem}")
    return value


def _list(raw: str) -> list[str]:
    return [part for part in _LIST_SPLIT.split(raw) if part]


def parse_phones(raw: str) -> tuple[str, ...]:
    phones: list[str] = []
    for n, part in enumerate(_list(raw), 1):
        digits = part.replace("-", "")
        try:
            phones.append(PhoneNumber(digits).digits)
        except InvalidPhone as exc:  # the number itself is not echoed: it is personal data
            raise OutageError(f"phones: number {n}: {exc}") from None
    if not phones:
        raise OutageError("phones: at least one number")
    return tuple(dict.fromkeys(phones))


def parse_time(raw: str, zone: tzinfo, what: str) -> datetime:
    """ISO 8601 with its offset, or a local ``YYYY-MM-DD HH:MM`` in the centre's zone."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
        for pattern in _LOCAL_TIME:
            try:
                value = datetime.strptime(raw, pattern)
                break
            except ValueError:
                continue
    if value is None:
        raise OutageError(f"{what}: {raw!r} is not a time (YYYY-MM-DD HH:MM)")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value


def parse_customers(text: str) -> Parsed[Customer]:
    parsed: Parsed[Customer] = Parsed()
    seen: dict[str, int] = {}
    for line, row in _rows(text, CUSTOMER_COLUMNS, CUSTOMER_REQUIRED):
        try:
            account = check_account_no(_text(row, "account_no"))
            if account in seen:
                raise OutageError(f"account_no {account} already on line {seen[account]}")
            customer = Customer(
                account_no=account,
                name=_text(row, "name"),
                phones=parse_phones(_text(row, "phones")),
                address=_text(row, "address"),
                area=check_place(_text(row, "area"), "area"),
                feeder=check_place(f, "feeder") if (f := _text(row, "feeder", False)) else None,
            )
        except OutageError as exc:
            parsed.problems.append(RowProblem(line, str(exc)))
            continue
        seen[account] = line
        parsed.rows.append((line, customer))
    return parsed


def parse_schedule(text: str, zone: tzinfo) -> Parsed[PlannedOutage]:
    parsed: Parsed[PlannedOutage] = Parsed()
    seen: dict[str, int] = {}
    for line, row in _rows(text, OUTAGE_COLUMNS, OUTAGE_REQUIRED):
        try:
            ref = _text(row, "ref")
            if len(ref) > 64:
                raise OutageError("ref is longer than 64 characters")
            if ref in seen:
                raise OutageError(f"ref {ref} already on line {seen[ref]}")
            areas = tuple(check_place(a, "areas") for a in _list(_text(row, "areas", False)))
            feeders = tuple(check_place(f, "feeders") for f in _list(_text(row, "feeders", False)))
            if not areas and not feeders:
                raise OutageError("an outage names at least one area or feeder")
            starts = parse_time(_text(row, "starts_at"), zone, "starts_at")
            expected = parse_time(_text(row, "expected_at"), zone, "expected_at")
            check_window(starts, expected)
            cause = _text(row, "cause")
            if len(cause) > 100:
                raise OutageError("cause is longer than 100 characters")
        except OutageError as exc:
            parsed.problems.append(RowProblem(line, str(exc)))
            continue
        seen[ref] = line
        parsed.rows.append((line, PlannedOutage(ref, areas, feeders, starts, expected, cause)))
    return parsed
