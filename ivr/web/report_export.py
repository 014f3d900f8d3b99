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
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from ivr.domain.report_columns import AGENT_COLUMNS, CENTRE_COLUMNS, header
from ivr.domain.reports import MonthlyReport

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
YES, NO = "是", "否"
CENTRE_TITLE, AGENTS_TITLE = "中心 (centre)", "坐席 (agents)"
PERCENT = "0.0%"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any, kind: str) -> Any:
    """The value as a spreadsheet cell: None stays empty, booleans read 是/否."""
    if value is None:
        return None
    if kind == "bool":
        return YES if value else NO
    return value


def _starts_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(_FORMULA_STARTS)


def _no_formula(value: Any) -> Any:
    """CSV: text Excel would run as a formula (an agent named ``=HYPERLINK(…)``) gets the
    apostrophe that makes Excel show it as text."""
    return "'" + value if _starts_formula(value) else value


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


def to_csv(report: MonthlyReport) -> bytes:
    data = report.as_dict()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def write(row: list[Any]) -> None:
        writer.writerow(["" if v is None else _no_formula(v) for v in row])

    for row in _meta(report):
        write(row)
    for title, head, rows in (
        (
            CENTRE_TITLE,
            ["指标 (figure)", "数值 (value)"],
            [[header(c), _cell(data["centre"][c[0]], c[2])] for c in CENTRE_COLUMNS],
        ),
        (
            AGENTS_TITLE,
            [header(c) for c in AGENT_COLUMNS],
            [[_cell(a[c[0]], c[2]) for c in AGENT_COLUMNS] for a in data["agents"]],
        ),
    ):
        write([])
        write([title])
        write(head)
        for row in rows:
            write(row)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(report: MonthlyReport) -> bytes:
    data = report.as_dict()
    book = Workbook()
    centre = book.active
    assert centre is not None
    centre.title = "中心"
    for row in _meta(report):
        centre.append(row)
    centre.append([])
    centre.append(["指标 (figure)", "数值 (value)"])
    _bold(centre[centre.max_row])
    for column in CENTRE_COLUMNS:
        centre.append([header(column), _cell(data["centre"][column[0]], column[2])])
        if column[2] == "ratio":
            centre.cell(row=centre.max_row, column=2).number_format = PERCENT
    centre.column_dimensions["A"].width = 44
    centre.column_dimensions["B"].width = 28
    agents = book.create_sheet("坐席")
    agents.append([header(c) for c in AGENT_COLUMNS])
    _bold(agents[1])
    for agent in data["agents"]:
        agents.append([_cell(agent[c[0]], c[2]) for c in AGENT_COLUMNS])
        for n, column in enumerate(AGENT_COLUMNS, start=1):
            cell = agents.cell(row=agents.max_row, column=n)
            if column[2] == "ratio":
                cell.number_format = PERCENT
            elif _starts_formula(cell.value):
                cell.data_type = "s"  # openpyxl stores text starting with "=" as a formula
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _bold(cells: Any) -> None:
    for cell in cells:
        cell.font = Font(bold=True)
