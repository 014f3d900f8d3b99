"""Agents API: register agents (supervisors), log in/out and pause (agents themselves or a
supervisor). All bodies are JSON; errors are ``{"error": …}`` with a clear message."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field

from ivr.domain.access import Role
from ivr.domain.agents import Agent, phone_member_interface
from ivr.ports import AgentDirectory
from ivr.services.agent_control import AgentControl, AgentControlError, check_agent
from ivr.services.call_tracking import CallTracking
from ivr.services.seats import SeatService
from ivr.web.auth import principal, requires
from ivr.web.json_body import error_response, json_response
from ivr.web.requests import StrictIn, parse_body

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> web.Response:
    return error_response(message, status)


class AgentIn(StrictIn):
    """``PUT /api/agents/{工号}``: unknown fields and wrong types are refused (422); what the
    values may be (device, interface, queue names) is checked by ``check_agent`` (400)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(max_length=256)
    interface: str | None = Field(None, max_length=256)
    device: str | None = Field(None, max_length=256)
    skills: list[str] = Field(default_factory=list, max_length=64)


class PauseIn(StrictIn):
    model_config = ConfigDict(extra="forbid", strict=True)

    # it becomes an AMI header (QueuePause Reason): a line break would start another header
    reason: str = Field("", max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")


class _Empty(StrictIn):
    model_config = ConfigDict(extra="forbid")


def _agent_json(agent: Agent, tracking: CallTracking) -> dict[str, Any]:
    memberships = tracking.board.by_interface().get(agent.interface, [])
    return {
        "job_number": agent.job_number,
        "name": agent.name,
        "interface": agent.interface,
        "skills": list(agent.skills),
        "device": agent.device,
        "logged_in_queues": [m.queue for m in memberships],
        "state": memberships[0].state.value if memberships else "logged_out",
        "paused": any(m.paused for m in memberships),
    }


def add_agent_routes(
    app: web.Application,
    directory: AgentDirectory,
    store: Any,
    control: AgentControl,
    tracking: CallTracking,
    seats: SeatService,
) -> None:
    @requires(Role.SUPERVISOR, Role.AGENT)
    async def list_agents(request: web.Request) -> web.Response:
        who = principal(request)
        agents = await directory.all()
        if who.role is Role.AGENT:
            agents = [a for a in agents if a.job_number == who.job_number]
        return json_response(request, {"agents": [_agent_json(a, tracking) for a in agents]})

    @requires(Role.SUPERVISOR)
    async def put_agent(request: web.Request) -> web.Response:
        body: AgentIn = await parse_body(request, AgentIn, missing_is_empty=True)
        try:
            job = str(request.match_info["job"])
            device, interface = body.device, body.interface
            if device is not None and interface is None and job.isdigit() and len(job) <= 16:
                interface = phone_member_interface(job)  # a desk phone: rung by [agent-dial]
            agent = check_agent(
                Agent(job, body.name, interface or "", tuple(body.skills), device),
                control.test_phone_context,
                control.test_member_context,
            )
            seat = device.removeprefix("PJSIP/") if device and device.startswith("PJSIP/") else None
            if seat is not None and await seats.get(seat) is None:
                raise AgentControlError(
                    400, f"device {device} is not a seat (add it: POST /api/seats)"
                )
            await store.put(agent)
        except AgentControlError as exc:
            return _error(exc.status, str(exc))
        tracking.agents_changed()  # the tracker's roster names the agent's calls from now on
        return json_response(request, _agent_json(agent, tracking), status=200)

    def action(kind: str) -> Any:
        @requires(Role.SUPERVISOR, Role.AGENT)
        async def handler(request: web.Request) -> web.Response:
            who, job = principal(request), request.match_info["job"]
            body = await parse_body(
                request, PauseIn if kind in ("pause", "unpause") else _Empty, missing_is_empty=True
            )
            try:
                if kind == "login":
                    agent = await control.log_in(who, job)
                elif kind == "logout":
                    agent = await control.log_out(who, job)
                else:
                    agent = await control.pause(who, job, kind == "pause", body.reason)
            except AgentControlError as exc:
                return _error(exc.status, str(exc))
            except Exception as exc:  # AMI down or refused: say so, change nothing here
                log.warning("agent %s %s failed: %s", job, kind, exc)
                return _error(503, f"Asterisk did not accept the {kind}: {exc}")
            log.info("agent %s: %s by %s", job, kind, who.name)
            return json_response(request, {"done": kind, "agent": _agent_json(agent, tracking)})

        return handler

    app.router.add_get("/api/agents", list_agents)
    app.router.add_put("/api/agents/{job}", put_agent)
    for kind in ("login", "logout", "pause", "unpause"):
        app.router.add_post(f"/api/agents/{{job}}/{kind}", action(kind))
