"""A monthly report as a CSV or XLSX file for Excel.

Both files carry the same figures as the JSON, laid out the same way: the centre as
"figure, value" lines (one figure per line reads better than 27 columns), then one line per
agent. Headers are ``中文 (key)``: Chinese for the reader, the JSON key for machines. CSV is
UTF-8 **with BOM**, which is what makes Excel read it as UTF-8 (without it, Chinese turns into
mojibake under a Chinese-locale Excel). Ratios are fractions (0.75) in CSV and JSON, and
numbers formatted as percentages in XLSX.

The XLSX also carries native charts (openpyxl's chart objects, drawn by Excel itself from the
cells, so they stay true if someone edits a figure): per agent, calls answered against answered
within 15 s (sheet ``坐席``), and the centre's service level and satisfaction for the months
ending with this one against the 90 % target (sheet ``趋势``), as the dashboard shows them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from ivr.domain.report_columns import AGENT_COLUMNS, CENTRE_COLUMNS, header, seconds_by
from ivr.domain.reports import MonthlyReport

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
YES, NO = "是", "否"
CENTRE_TITLE, AGENTS_TITLE = "中心 (centre)", "坐席 (agents)"
PERCENT = "0.0%"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TREND_TITLE = "趋势"
SATISFACTION_TARGET = 0.90  # the standard: 90 % or more


def _cell(value: Any, kind: str) -> Any:
    """The value as a spreadsheet cell: None stays empty, booleans read 是/否."""
    if value is None:
        return None
    if kind == "bool":
        return YES if value else NO
    if kind == "seconds_by":
        return seconds_by(value) or None
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


def to_xlsx(report: MonthlyReport, trend: Sequence[MonthlyReport] = ()) -> bytes:
    """The report as a workbook; ``trend`` (oldest first, ending with this month) feeds the
    service-level chart, which shows this month alone without it."""
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
    if data["agents"]:
        agents.add_chart(
            _answered_chart(agents, len(data["agents"])), "B" + str(agents.max_row + 3)
        )
    _trend_sheet(book.create_sheet(TREND_TITLE), list(trend) or [report])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _bold(cells: Any) -> None:
    for cell in cells:
        cell.font = Font(bold=True)


def _column(key: str) -> int:
    """The 1-based column of an agent figure on the agents sheet."""
    return 1 + [c[0] for c in AGENT_COLUMNS].index(key)


def _answered_chart(sheet: Worksheet, rows: int) -> BarChart:
    """Bars per 工号: calls answered and answered within 15 s of the ring."""
    chart = BarChart()
    chart.type = "col"
    chart.title = "接听量 / 15秒内接听 (answered / within 15 s)"
    chart.y_axis.title = "calls"
    chart.x_axis.title = "工号"
    for key in ("calls_answered", "answered_in_15s"):
        col = _column(key)
        chart.add_data(
            Reference(sheet, min_col=col, min_row=1, max_row=rows + 1), titles_from_data=True
        )
    job = _column("job_number")
    chart.set_categories(Reference(sheet, min_col=job, min_row=2, max_row=rows + 1))
    chart.width, chart.height = 24, 10
    return chart


def _trend_sheet(sheet: Worksheet, months: Sequence[MonthlyReport]) -> None:
    """One line per month and a line chart of service level and satisfaction against 90 %."""
    sheet.append(["月份 (month)", "服务水平 (service_level)", "满意率 (satisfaction_rate)",
                  "目标 (target)"])  # fmt: skip
    _bold(sheet[1])
    for month in months:
        centre = month.as_dict()["centre"]
        sheet.append([str(month.month), centre["service_level"], centre["satisfaction_rate"],
                      SATISFACTION_TARGET])  # fmt: skip
        for col in (2, 3, 4):
            sheet.cell(row=sheet.max_row, column=col).number_format = PERCENT
    sheet.column_dimensions["A"].width = 14
    for letter in "BCD":
        sheet.column_dimensions[letter].width = 26
    chart = LineChart()
    chart.title = "服务水平与满意率 (service level, satisfaction)"
    chart.y_axis.title = "share"
    chart.y_axis.number_format = PERCENT
    chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0.0, 1.0
    last = len(months) + 1
    chart.add_data(Reference(sheet, min_col=2, max_col=4, min_row=1, max_row=last),
                   titles_from_data=True)  # fmt: skip
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=last))
    chart.series[2].graphicalProperties.line.dashStyle = "dash"  # the target, as on the dashboard
    chart.width, chart.height = 24, 10
    sheet.add_chart(chart, "F2")
