"""How values are read out to a caller (job numbers, phone numbers, money, dates)."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.domain import spoken
from ivr.domain.spoken import SpokenError


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "零"),
        (7, "七"),
        (10, "十"),
        (15, "十五"),
        (22, "二十二"),
        (115, "一百一十五"),
        (200, "两百"),
        (1005, "一千零五"),
        (2000, "两千"),
        (10050, "一万零五十"),
        (20000, "两万"),
        (100010, "十万零一十"),
        (100500, "十万零五百"),
        (120000, "十二万"),
        (100000001, "一亿零一"),
        (100010000, "一亿零一万"),
        (-35, "负三十五"),
    ],
)
def test_whole_numbers_are_read_as_quantities(value: int, text: str) -> None:
    assert spoken.integer(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0", "零元"),
        ("0.05", "五分"),
        ("2", "两元"),
        ("5.05", "五元零五分"),
        ("123.45", "一百二十三元四角五分"),
        (Decimal("1005.30"), "一千零五元三角"),
        ("10000", "一万元"),
        ("-3.20", "负三元两角"),
        ("99.995", "一百元"),  # rounded half up to the fen
    ],
)
def test_money_is_read_as_a_person_says_it(value: str, text: str) -> None:
    assert spoken.amount_yuan(value) == text


def test_job_and_phone_numbers_are_read_digit_by_digit_with_yao_for_one() -> None:
    assert spoken.job_number("1024") == "幺零二四"
    assert spoken.phone_number("13812345678") == "幺三八，幺二三四，五六七八"
    assert spoken.phone_number("138 1234-5678") == "幺三八，幺二三四，五六七八"
    assert spoken.phone_number("010-12345678") == "零幺零，幺二三四，五六七八"
    assert spoken.phone_number("057112345678") == "零五七幺，幺二三四，五六七八"
    assert spoken.phone_number("95598") == "九五五九八"
    assert spoken.digits("95598", call_style=False) == "九五五九八"


def test_dates_and_times() -> None:
    assert spoken.calendar_date(date(2026, 3, 5)) == "二零二六年三月五日"
    winter = spoken.calendar_date(date(2026, 12, 21), weekday=True)
    assert winter == "二零二六年十二月二十一日，星期一"
    assert spoken.clock_time(time(15, 5)) == "十五点零五分"
    assert spoken.clock_time(time(8, 0)) == "八点整"
    assert spoken.clock_time(time(2, 30)) == "两点三十分"


def test_names_and_free_text() -> None:
    assert spoken.honorific("王", "先生") == "王先生"
    assert spoken.honorific("欧阳", "女士") == "欧阳女士"
    assert spoken.free_text("幸福路12号楼3单元，户号3300123456") == (
        "幸福路十二号楼三单元，户号三三零零一二三四五六"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: spoken.digits("12a4"),
        lambda: spoken.digits("١٢٣"),  # non-ASCII digits are not 0-9
        lambda: spoken.job_number(""),
        lambda: spoken.phone_number("12"),
        lambda: spoken.phone_number("138-1234-567x"),
        lambda: spoken.amount_yuan("lots"),
        lambda: spoken.amount_yuan("NaN"),
        lambda: spoken.amount_yuan("1e15"),
        lambda: spoken.honorific("Smith", "先生"),
        lambda: spoken.honorific("王", "大人"),
        lambda: spoken.integer(True),
    ],
)
def test_bad_values_are_refused_with_a_clear_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpokenError):
        call()


@given(st.integers(min_value=0, max_value=10**12))
def test_every_number_reads_without_digits_and_without_double_zero(value: int) -> None:
    text = spoken.integer(value)
    assert not any(ch.isascii() for ch in text)
    assert "零零" not in text
    assert not text.endswith("零") or value == 0
