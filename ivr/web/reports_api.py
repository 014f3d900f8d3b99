"""Monthly report routes (月度考核报表).

* ``GET /api/reports/monthly?month=YYYY-MM&format=json|csv|xlsx`` — supervisors: the centre's
  and every agent's figures for the month; csv/xlsx come as a download.
* ``GET /api/reports/series?to=YYYY-MM&months=N`` — supervisors: the centre's figures for N
  months ending with ``to`` (the dashboard's charts).
* ``GET /api/reports/monthly/me?month=YYYY-MM`` — an agent: their own row only.

Bad input (no month, not ``YYYY-MM``, unknown format) is ``400`` with the reason.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.domain.access import Role
from ivr.domain.reports import BadMonth, Month, parse_month
from ivr.services.monthly_reports import MAX_SERIES_MONTHS, MonthlyReports
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.report_export import CSV_TYPE, XLSX_TYPE, to_csv, to_xlsx

REPORTS = web.AppKey("reports", MonthlyReports)
_FORMATS = ("json", "csv", "xlsx")
XLSX_TREND_MONTHS = 6  # as the dashboard's chart


def _month(request: web.Request, name: str = "month") -> Month:
    raw = request.query.get(name)
    if raw is None:
        raise json_error(web.HTTPBadRequest, f"{name} is required, as YYYY-MM (e.g. 2026-09)")
    try:
        return parse_month(raw)
    except BadMonth as exc:
        raise json_error(web.HTTPBadRequest, str(exc)) from None


@requires(Role.SUPERVISOR)
async def monthly(request: web.Request) -> web.StreamResponse:
    kind = request.query.get("format", "json")
    if kind not in _FORMATS:
        raise json_error(web.HTTPBadRequest, "format is one of json, csv, xlsx")
    month = _month(request)
    report = await request.app[REPORTS].monthly(month)
    if kind == "json":
        return json_response(request, report.as_dict(), headers={"Cache-Control": "no-store"})
    if kind == "csv":
        body, content_type = to_csv(report), CSV_TYPE
    else:  # the chart of the months ending with this one, as the dashboard draws it
        trend = await request.app[REPORTS].series(month, XLSX_TREND_MONTHS)
        body, content_type = to_xlsx(report, trend), XLSX_TYPE
    headers = {
        "Content-Disposition": f'attachment; filename="95598-report-{month}.{kind}"',
        "Cache-Control": "no-store",
    }
    if kind == "csv":
        content_type += "; charset=utf-8"
    headers["Content-Type"] = content_type
    return web.Response(body=body, headers=headers)


@requires(Role.SUPERVISOR)
async def series(request: web.Request) -> web.Response:
    last = _month(request, "to")
    raw = request.query.get("months", "6")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_SERIES_MONTHS:
        raise json_error(web.HTTPBadRequest, f"months is 1–{MAX_SERIES_MONTHS}")
    reports = await request.app[REPORTS].series(last, int(raw))
    out: list[dict[str, Any]] = []
    for report in reports:
        data = report.as_dict()
        out.append({k: data[k] for k in ("month", "final", "centre")})
    return json_response(request, {"months": out}, headers={"Cache-Control": "no-store"})


@requires(Role.AGENT)
async def my_month(request: web.Request) -> web.Response:
    who = principal(request)
    if who.job_number is None:
        raise json_error(web.HTTPForbidden, "this route is for an agent's own figures")
    report = (await request.app[REPORTS].monthly(_month(request))).as_dict()
    mine = [a for a in report["agents"] if a["job_number"] == who.job_number]
    return json_response(
        request,
        {k: report[k] for k in ("month", "timezone", "as_of", "final")}
        | {"agent": mine[0] if mine else None},
        headers={"Cache-Control": "no-store"},
    )


def add_report_routes(app: web.Application, reports: MonthlyReports) -> None:
    app[REPORTS] = reports
    app.router.add_get("/api/reports/monthly", monthly)
    app.router.add_get("/api/reports/monthly/me", my_month)
    app.router.add_get("/api/reports/series", series)
