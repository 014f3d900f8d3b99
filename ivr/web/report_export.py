"""A monthly report as a CSV or XLSX file for Excel.

Both files carry the same figures as the JSON, laid out the same way: the centre as
"figure, value" lines (one figure per line reads better than 27 columns), then one line per
agent. Headers are ``中文 (key)``: Chinese for the reader, the JSON key for machines. CSV is
UTF-8 **with BOM**, which is what makes Excel read it as UTF-8 (without it, Chinese turns into
mojibake under a Chinese-locale Excel). Ratios are fractions (0.75) in CSV and JSON, and
numbers formatted as percentages in XLSX.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from ivr.domain.reports import AGENT_COLUMNS, CENTRE_COLUMNS, MonthlyReport, header

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
YES, NO = "是", "否"
CENTRE_TITLE, AGENTS_TITLE = "中心 (centre)", "坐席 (agents)"


def _cell(value: Any, kind: str) -> Any:
    """The value as a spreadsheet cell: None stays empty, booleans read 是/否."""
    if value is None:
        return None
    if kind == "bool":
        return YES if value else NO
    return value


def _meta(report: MonthlyReport) -> list[list[Any]]:
    data = report.as_dict()
    return [
        ["95598 月度报表 (month)", data["month"]],
        ["时区 (timezone)", data["timezone"]],
        ["起 (start)", data["start"]],
        ["止 (end, exclusive)", data["end"]],
        ["统计时间 (as_of)", data["as_of"]],
        ["已结月 (final)", YES if data["final"] else NO],
    ]


def _sections(report: MonthlyReport) -> Iterator[tuple[str, list[list[Any]]]]:
    data = report.as_dict()
    yield "meta", _meta(report)
    centre = [["指标 (figure)", "数值 (value)"]]
    centre += [[header(c), _cell(data["centre"][c[0]], c[2])] for c in CENTRE_COLUMNS]
    yield CENTRE_TITLE, centre
    agents = [[header(c) for c in AGENT_COLUMNS]]
    agents += [[_cell(a[c[0]], c[2]) for c in AGENT_COLUMNS] for a in data["agents"]]
    yield AGENTS_TITLE, agents


def to_csv(report: MonthlyReport) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for title, rows in _sections(report):
        if title != "meta":
            writer.writerow([])
            writer.writerow([title])
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(report: MonthlyReport) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "中心"
    kinds = {header(c): c[2] for c in (*CENTRE_COLUMNS, *AGENT_COLUMNS)}
    agents_sheet = book.create_sheet("坐席")
    for title, rows in _sections(report):
        target = agents_sheet if title == AGENTS_TITLE else sheet
        if title == CENTRE_TITLE:
            sheet.append([])
        for n, row in enumerate(rows):
            target.append(row)
            if n == 0 and title != "meta":
                for cell in target[target.max_row]:
                    cell.font = Font(bold=True)
        if title == CENTRE_TITLE:
            for label_cell, value_cell in sheet.iter_rows(min_row=sheet.max_row - len(rows) + 2):
                if kinds.get(str(label_cell.value)) == "ratio":
                    value_cell.number_format = "0.0%"
        if title == AGENTS_TITLE:
            for col, column in enumerate(AGENT_COLUMNS, start=1):
                if column[2] == "ratio":
                    for (cell,) in agents_sheet.iter_rows(min_row=2, min_col=col, max_col=col):
                        cell.number_format = "0.0%"
    sheet.column_dimensions["A"].width = 44
    sheet.column_dimensions["B"].width = 28
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
