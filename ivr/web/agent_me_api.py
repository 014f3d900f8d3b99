"""The agent's own state through their own token (``/api/agents/me…``): what the workspace
page's buttons call. Sign in to the queues of their skills, pause with one of the configured
reasons, unpause, end after-call work early, and blind-transfer the current call.

Only an agent token has a "me" (its 工号 is bound to the token); nothing in a request names
another agent's member or a dial string: the interface is the agent's own seat member, a
transfer target is an allowed queue or a 工号 the bridge resolves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web
from pydantic import StringConstraints

from ivr.domain.access import Principal, Role
from ivr.domain.agent_state import AgentState
from ivr.domain.agents import AFTER_CALL_WORK_REASON, Agent, Membership
from ivr.domain.transfers import TransferRefused
from ivr.ports import AgentStateStore
from ivr.services.agent_control import AgentControl, AgentControlError, actor_of
from ivr.services.call_tracking import CallTracking
from ivr.services.call_transfer import CallTransferService
from ivr.services.wrap_up import WrapUp
from ivr.web.auth import principal, requires
from ivr.web.json_body import error_response, json_response
from ivr.web.requests import StrictIn, parse_body

log = logging.getLogger(__name__)


class MePauseIn(StrictIn):
    """``POST /api/agents/me/pause``: one of the configured reasons (``agents.pause_reasons``)."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class TransferIn(StrictIn):
    """``POST /api/agents/me/call/transfer``: exactly one of an allowed queue or an agent's
    工号 (resolved to that agent's own seat by the bridge)."""

    queue: Annotated[str, StringConstraints(pattern=r"^q-[a-z0-9-]{1,30}$")] | None = None
    job_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,16}$")] | None = None


class _Empty(StrictIn):
    pass


@dataclass
class MeDeps:
    control: AgentControl
    tracking: CallTracking
    wrap_up: WrapUp
    transfers: CallTransferService
    states: AgentStateStore | None
    pause_reasons: tuple[str, ...]


def _state(members: list[Membership]) -> tuple[AgentState, str]:
    """The agent's state as Asterisk reports their members (the truth for the queues)."""
    if not members:
        return AgentState.LOGGED_OUT, ""
    paused = next((m for m in members if m.paused), None)
    if paused is None:
        return AgentState.READY, ""
    if paused.pause_reason == AFTER_CALL_WORK_REASON:
        return AgentState.AFTER_CALL_WORK, AFTER_CALL_WORK_REASON
    return AgentState.PAUSED, paused.pause_reason


async def _me_json(deps: MeDeps, agent: Agent) -> dict[str, Any]:
    members = deps.tracking.board.by_interface().get(agent.interface, [])
    state, reason = _state(members)
    since = None
    if deps.states is not None:
        try:
            latest = await deps.states.latest(agent.job_number)
        except Exception:  # the database away: the live state is still Asterisk's
            latest = None
        if latest is not None and latest.state is state:
            since = latest.at.isoformat()
    ends = deps.wrap_up.ends_at(agent.job_number) if state is AgentState.AFTER_CALL_WORK else None
    call = deps.transfers.current_call(agent.job_number, agent.interface)
    return {
        "job_number": agent.job_number,
        "name": agent.name,
        "device": agent.device,
        "skills": list(agent.skills),
        "state": state.value,
        "since": since,
        "pause_reason": reason or None,
        "after_call_work_ends_at": ends.isoformat() if ends else None,
        "queues": [m.queue for m in members],
        "device_state": members[0].state.value if members else None,
        "on_call": None
        if call is None
        else {"queue": call.queue, "answered_us": call.answered_us, "transferable": True},
        "pause_reasons": list(deps.pause_reasons),
        "wrapup_s": deps.wrap_up.wrapup.total_seconds(),
        "transfer_queues": sorted(deps.transfers.allowed_queues),
    }


def _error(status: int, message: str) -> web.Response:
    return error_response(message, status)


def add_me_routes(app: web.Application, deps: MeDeps) -> None:
    """Register before ``/api/agents/{job}…`` so that ``me`` is never read as a 工号."""
    control = deps.control

    @requires(Role.AGENT)
    async def me(request: web.Request) -> web.Response:
        try:
            agent = await control.own_agent(principal(request))
        except AgentControlError as exc:
            return _error(exc.status, str(exc))
        return json_response(request, await _me_json(deps, agent))

    async def _act(who: Principal, kind: str, body: Any) -> Agent:
        job = who.job_number or ""
        agent = await control.own_agent(who)
        if kind == "login":
            return await control.log_in(who, job)
        if kind == "logout":
            return await control.log_out(who, job)
        if kind in ("pause", "unpause", "ready") and not deps.tracking.board.by_interface().get(
            agent.interface
        ):
            raise AgentControlError(409, "not logged in: log in first")
        if kind == "pause":
            if body.reason not in deps.pause_reasons:
                raise AgentControlError(
                    400, f"reason must be one of {', '.join(deps.pause_reasons)}"
                )
            return await control.pause(who, job, True, body.reason)
        if kind == "unpause":
            return await control.pause(who, job, False, "")
        # ready: after-call work over
        if control.queues is None:
            raise AgentControlError(503, "no AMI connection configured")
        if not await deps.wrap_up.ready(job, agent.interface, actor_of(who)):
            raise AgentControlError(409, "not in after-call work")
        return agent

    def action(kind: str) -> Any:
        model = MePauseIn if kind == "pause" else _Empty

        @requires(Role.AGENT)
        async def handler(request: web.Request) -> web.Response:
            who = principal(request)
            body = await parse_body(request, model, missing_is_empty=kind != "pause")
            try:
                agent = await _act(who, kind, body)
            except AgentControlError as exc:
                return _error(exc.status, str(exc))
            except Exception as exc:  # AMI down or refused: say so, change nothing here
                log.warning("agent %s: %s failed: %s", who.job_number, kind, exc)
                return _error(503, f"Asterisk did not accept the {kind}: {exc}")
            log.info("agent %s: %s (own token)", who.job_number, kind)
            return json_response(request, {"done": kind, "me": await _me_json(deps, agent)})

        return handler

    @requires(Role.AGENT)
    async def transfer(request: web.Request) -> web.Response:
        who = principal(request)
        body: TransferIn = await parse_body(request, TransferIn)
        try:
            done = await deps.transfers.transfer(who, body.queue, body.job_number)
        except (AgentControlError, TransferRefused) as exc:
            return _error(exc.status, str(exc))
        except Exception as exc:
            log.warning("agent %s: transfer failed: %s", who.job_number, exc)
            return _error(503, f"Asterisk did not accept the transfer: {exc}")
        return json_response(request, {"done": "transfer", "transfer": done.as_dict()})

    app.router.add_get("/api/agents/me", me)
    for kind in ("login", "logout", "pause", "unpause", "ready"):
        app.router.add_post(f"/api/agents/me/{kind}", action(kind))
    app.router.add_post("/api/agents/me/call/transfer", transfer)
