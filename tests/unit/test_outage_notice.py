"""Outage rules, the CSV files, the notice index and the notice in the menu (pure logic with
in-memory stand-ins; the real path, on the sandbox, is tests/integration/test_outage_calls.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.domain.calls import CallerHungUp, CallOutcome, StepKind
from ivr.domain.outage_files import UnusableFile, parse_customers, parse_schedule
from ivr.domain.outages import (
    ASK_ACCOUNT,
    NO_OUTAGE,
    NOTICE_KEYS,
    Customer,
    Notice,
    Outage,
    OutageIndex,
    OutageKind,
    OutageState,
    notice_text,
    spoken_when,
)
from ivr.flows import inbound
from ivr.flows.outage_notice import NoticeDeps
from ivr.menu_file import load_menu
from ivr.services.call_journal import CallJournal
from tests.unit.test_inbound_flow import MemoryRepository, ScriptedChannel

BJ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=BJ)
INSIDE, OUTSIDE = "13800000001", "13900000002"


def outage(**changes: object) -> Outage:
    values: dict[str, object] = {
        "id": 7,
        "kind": OutageKind.FAULT,
        "areas": ("幸福小区",),
        "feeders": ("10kV城东线",),
        "starts_at": NOW - timedelta(hours=1),
        "expected_at": NOW.replace(hour=18, minute=30),
        "cause": "线路故障",
        "state": OutageState.OPEN,
    }
    values.update(changes)
    return Outage(**values)  # type: ignore[arg-type]


CUSTOMERS = [
    Customer("1000000001", "王芳", (INSIDE,), "幸福路1号", "幸福小区", None),
    Customer("1000000002", "李雷", ("13700000003",), "东路2号", "东城", "10kV城东线"),
    Customer("1000000003", "韩梅", (OUTSIDE,), "西路3号", "西城", "10kV城西线"),
]


# --- the rules and the index -----------------------------------------------------------------


def test_the_notice_names_the_area_the_cause_and_the_time_as_spoken() -> None:
    text = notice_text(outage(), "幸福小区", BJ, NOW)
    assert text == "您所在的幸福小区因线路故障停电，预计今天十八点三十分恢复供电。"
    assert spoken_when(NOW + timedelta(days=1), BJ, NOW) == "明天十点整"
    assert spoken_when(NOW + timedelta(days=3), BJ, NOW) == "十二月八日十点整"


def test_the_index_holds_only_customers_under_an_active_outage() -> None:
    index = OutageIndex.build([outage()], CUSTOMERS, BJ, NOW)
    assert index.for_phone(INSIDE) == Notice(7, notice_text(outage(), "幸福小区", BJ, NOW))
    by_feeder = index.for_account("1000000002")
    assert by_feeder is not None and "10kV城东线" in by_feeder.text  # named by their feeder
    assert index.for_phone(OUTSIDE) is None and index.for_account("1000000003") is None


def test_a_calling_number_with_a_country_code_or_a_leading_zero_is_still_matched() -> None:
    index = OutageIndex.build([outage()], CUSTOMERS, BJ, NOW)
    for sent in ("+8613800000001", "8613800000001", "008613800000001", "013800000001"):
        assert index.for_phone(sent) is not None, sent
    assert index.for_phone("13800000009") is None


def test_an_outage_not_started_closed_or_cancelled_is_not_read() -> None:
    for later in (
        outage(starts_at=NOW + timedelta(minutes=5)),
        outage(state=OutageState.CLOSED),
        outage(state=OutageState.CANCELLED),
    ):
        assert OutageIndex.build([later], CUSTOMERS, BJ, NOW).for_phone(INSIDE) is None


# --- the CSV files ---------------------------------------------------------------------------


def test_a_customer_file_keeps_good_rows_and_names_each_bad_line() -> None:
    text = (
        "户号,户名,联系电话,用电地址,供电区域,线路\n"
        "1000000001,王芳,13800000001;010-62345678,幸福路1号,幸福小区,\n"
        "12,短户号,13800000002,某路,幸福小区,\n"
        "1000000003,李雷,12345,东路2号,东城,10kV城东线\n"
        "1000000001,重复,13800000004,某路,幸福小区,\n"
        "\n"
        "1000000005,韩梅,13900000002,西路3号,西城,10kV城西线\n"
    )
    parsed = parse_customers(text)
    assert [c.account_no for _, c in parsed.rows] == ["1000000001", "1000000005"]
    assert parsed.rows[0][1].phones == ("13800000001", "01062345678")
    assert [(p.line, p.reason.split(":")[0]) for p in parsed.problems] == [
        (3, "account_no"),
        (4, "phones"),
        (5, "account_no 1000000001 already on line 2"),
    ]


def test_a_file_without_the_columns_is_unusable() -> None:
    with pytest.raises(UnusableFile, match="line 1: the header lacks"):
        parse_customers("a,b,c\n1,2,3\n")
    with pytest.raises(UnusableFile, match="empty"):
        parse_schedule("", BJ)


def test_the_schedule_takes_local_times_and_refuses_a_restoration_before_the_start() -> None:
    text = (
        "ref,areas,feeders,starts_at,expected_at,cause\n"
        "P-1,幸福小区;东城,,2026-12-06 08:00,2026-12-06 18:00,计划检修\n"
        "P-2,西城,,2026-12-06 18:00,2026-12-06 08:00,计划检修\n"
        "P-3,,,2026-12-06 08:00,2026-12-06 18:00,计划检修\n"
        "P-4,西城,,明天,2026-12-06 18:00,计划检修\n"
    )
    parsed = parse_schedule(text, BJ)
    [(line, planned)] = parsed.rows
    assert line == 2 and planned.areas == ("幸福小区", "东城")
    assert planned.starts_at == datetime(2026, 12, 6, 0, 0, tzinfo=UTC)
    assert [p.line for p in parsed.problems] == [3, 4, 5]


# --- the notice in the menu ------------------------------------------------------------------


class TextPrompts:
    async def prompt_path(self, text: str) -> Path:
        return Path("/prompts") / text


class Lookup:
    def __init__(self, index: OutageIndex) -> None:
        self.index = index

    def for_phone(self, phone: str) -> Notice | None:
        return self.index.for_phone(phone)

    def for_account(self, account_no: str) -> Notice | None:
        return self.index.for_account(account_no)

    async def account_known(self, account_no: str) -> bool:
        return any(c.account_no == account_no for c in CUSTOMERS)


async def call(keys: list[object], caller: str = INSIDE) -> tuple[object, ScriptedChannel]:
    index = OutageIndex.build([outage()], CUSTOMERS, BJ, NOW)
    repo = MemoryRepository()
    deps = inbound.InboundDeps(
        load_menu(),
        TextPrompts(),
        CallJournal(repo),
        lambda: NOW,
        notices=NoticeDeps(Lookup(index)),
    )
    channel = ScriptedChannel(keys)  # type: ignore[arg-type]
    start = inbound.CallStart("1.1", caller, "95598", "Local/x;2")
    record = await inbound.run(channel, start, deps)
    await deps.journal.drain()
    return record, channel


def heard(channel: ScriptedChannel) -> list[str]:
    return [p.name for p in channel.played]


NOTICE = notice_text(outage(), "幸福小区", BJ, NOW)


async def test_a_caller_under_an_outage_hears_it_after_the_greeting_and_is_informed() -> None:
    record, channel = await call([None, None, CallerHungUp])
    played = heard(channel)
    assert played[:3] == [load_menu().greeting, NOTICE, NOTICE_KEYS]
    assert record.outcome is CallOutcome.ABANDONED_IN_MENU  # type: ignore[attr-defined]
    assert record.outage_id == 7 and record.informed  # type: ignore[attr-defined]


async def test_one_repeats_two_goes_on_to_the_menu() -> None:
    record, channel = await call(["1", "2", "0"])
    played = heard(channel)
    assert played.count(NOTICE) == 2
    assert played[3] == load_menu().nodes["main"].prompt  # no second greeting
    assert record.route == "q-general" and not record.informed  # type: ignore[attr-defined]


async def test_a_caller_outside_the_area_hears_no_notice() -> None:
    record, channel = await call([CallerHungUp], caller=OUTSIDE)
    assert NOTICE not in heard(channel)
    assert record.outage_id is None and not record.informed  # type: ignore[attr-defined]


async def test_menu_2_3_reads_the_outage_for_a_keyed_in_account() -> None:
    keys = ["2", "3", *"1000000002", "#", "2", None, None, None, None, None]
    record, channel = await call(keys, caller="13600000009")  # not in the register
    played = heard(channel)
    assert ASK_ACCOUNT in played
    assert any("10kV城东线" in p for p in played)
    assert record.outage_id == 7  # type: ignore[attr-defined]
    steps = [s for s in record.steps if s.node == "outage_notice"]  # type: ignore[attr-defined]
    assert StepKind.PROMPT in {s.kind for s in steps}


async def test_menu_2_3_without_an_outage_says_so_and_queues_as_before() -> None:
    record, channel = await call(["2", "3", *"1000000003", "#"], caller="13600000009")
    assert NO_OUTAGE in heard(channel)
    assert record.route == "q-billing" and record.choice == "billing.outage_info"  # type: ignore[attr-defined]


# --- the index kept while nothing changes ----------------------------------------------------


class Registers:
    def __init__(self) -> None:
        self.loads = 0
        self.changed_at = NOW

    async def open_outages(self) -> list[Outage]:
        return [outage()]

    async def signature(self, areas: object, feeders: object) -> tuple[int, object]:
        return len(CUSTOMERS), self.changed_at

    async def in_places(self, areas: object, feeders: object) -> list[Customer]:
        self.loads += 1
        return CUSTOMERS

    async def get(self, account_no: str) -> Customer:
        raise AssertionError("not asked")


async def test_the_index_is_rebuilt_only_when_outages_customers_or_the_day_change() -> None:
    from ivr.services.outages import OutageNotices

    registers = Registers()
    clock = [NOW]
    notices = OutageNotices(registers, registers, TextPrompts(), BJ, lambda: clock[0])  # type: ignore[arg-type]
    first = await notices.refresh()
    assert await notices.refresh() is first and registers.loads == 1
    registers.changed_at = NOW + timedelta(seconds=1)  # a customer of the area changed
    assert await notices.refresh() is not first and registers.loads == 2
    clock[0] = NOW + timedelta(days=1)  # 今天 is now 昨天: the texts change
    later = await notices.refresh()
    assert registers.loads == 3 and later.for_phone(INSIDE) is not None
