"""The inbound 95598 conversation: greeting, menu, and the hand-over to an agent queue.

The flow only talks to ports: a Channel, a PromptLibrary, a CallJournal and, when speech is on,
a Recognizer. It never decides what a key or a phrase means (the menu session does) and never
fails a caller because of our own faults (a recogniser that breaks or lags means keys only):
if anything on our side breaks, the call is marked failed and the dialplan's fallback queue
takes the caller to a human.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ivr.domain.calls import CallerHungUp, CallOutcome, CallRecord, CallStep, StepKind
from ivr.domain.menu import DTMF_KEYS, Action, MenuSession, MenuTree, Prompt, Route
from ivr.domain.privacy import mask_number
from ivr.domain.virtual_hold import KEEP_KEY, KEPT_CONFIRM, OFFER_KEYS
from ivr.flows import outage_notice
from ivr.flows.listen import SpeechDeps, listen
from ivr.flows.outage_notice import NoticeDeps
from ivr.ports import CallBackDesk, CallJournal, Channel, PromptLibrary

log = logging.getLogger(__name__)


# Asterisk copies "__"-prefixed variables to every channel this one dials: the agent's leg of the
# queue call sees IVR_CALL_ID and IVR_CHOICE (a screen pop needs them), and so does any transfer.
INHERITED = "__"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class InboundDeps:
    menu: MenuTree
    prompts: PromptLibrary
    journal: CallJournal
    clock: Callable[[], datetime] = utc_now
    speech: SpeechDeps | None = None
    notices: NoticeDeps | None = None  # outage notices (storm days), when the register is on
    call_backs: CallBackDeps | None = None  # virtual hold, when on


@dataclass(frozen=True, slots=True)
class CallBackDeps:
    desk: CallBackDesk
    digit_timeout_ms: int = 5000


@dataclass(frozen=True, slots=True)
class CallStart:
    """What Asterisk tells us about a new call (from the AGI environment)."""

    unique_id: str
    caller_number: str
    dialed_number: str
    channel_name: str


async def run(channel: Channel, start: CallStart, deps: InboundDeps) -> CallRecord:
    """Walk the caller through the menu and route them. Returns the finished record."""
    record = CallRecord(
        call_id=uuid.uuid4().hex,
        unique_id=start.unique_id,
        caller_number=start.caller_number,
        dialed_number=start.dialed_number,
        channel_name=start.channel_name,
        started_at=deps.clock(),
    )
    session = MenuSession(deps.menu, deps.clock, speech=deps.speech is not None)
    log.info("call %s from %s entered the menu", record.call_id, mask_number(start.caller_number))
    try:
        # First, so that the hangup handler can report the end even if the caller leaves now.
        await channel.set_variable(INHERITED + "IVR_CALL_ID", record.call_id)
        action = session.start()
        _sync(record, session)
        deps.journal.opened(record)
        if deps.notices is not None:
            action = await _greeting_notice(channel, action, record, session, deps, deps.notices)
        recordings = 0
        while True:
            while isinstance(action, Prompt):
                key = await _play(channel, action, deps)
                if key is None and action.grammar is not None and deps.speech is not None:
                    recordings += 1
                    name = f"{record.call_id}-{recordings}"
                    key, heard = await listen(channel, action.grammar, name, deps.speech, DTMF_KEYS)
                    if key is None and heard is not None:
                        action = session.on_speech(heard)
                        continue
                if key is None:
                    key = await channel.wait_for_digit(deps.menu.digit_timeout_ms)
                action = session.on_key(key) if key is not None else session.on_timeout()
            notices = deps.notices
            if notices is None or action.by_default or action.choice != notices.menu_choice:
                break
            moved = await outage_notice.outage_info(
                channel, record, session, deps.prompts, notices, deps.clock
            )
            if moved is False:
                break  # nothing to read: the queue the menu names, as before
            back = session.back_to_start()
            action = session.on_key(moved) if isinstance(moved, str) and moved != "2" else back
        _sync(record, session)
        await _route(channel, action, record, deps)
    except CallerHungUp:
        _sync(record, session)
        record.outcome = CallOutcome.ABANDONED_IN_MENU
        record.informed = record.outage_id is not None  # left after hearing the notice
        record.ended_at = deps.clock()
        record.steps.append(CallStep(record.ended_at, StepKind.HANGUP, session.node or None))
        log.info("call %s: caller hung up in the menu", record.call_id)
    except Exception as exc:
        _sync(record, session)
        record.outcome = CallOutcome.FAILED
        record.steps.append(
            CallStep(deps.clock(), StepKind.ERROR, session.node or None, None, type(exc).__name__)
        )
        log.exception("call %s failed in the bridge; dialplan falls back", record.call_id)
    finally:
        deps.journal.closed(record)
    return record


async def _greeting_notice(
    channel: Channel,
    action: Prompt,
    record: CallRecord,
    session: MenuSession,
    deps: InboundDeps,
    notices: NoticeDeps,
) -> Action:
    """A caller under an active outage hears its notice right after the greeting; 2 or
    silence goes on to the menu (without the greeting again), another key is a menu choice."""
    notice = notices.lookup.for_phone(record.caller_number)
    if notice is None:
        return action
    greeting, *rest = action.texts
    await channel.play(await deps.prompts.prompt_path(greeting))
    key = await outage_notice.offer(
        channel, notice, record, session, deps.prompts, notices, deps.clock
    )
    if key is None or key == outage_notice.MENU:
        return Prompt(action.node, tuple(rest), action.grammar)
    return session.on_key(key)


async def _play(channel: Channel, prompt: Prompt, deps: InboundDeps) -> str | None:
    """Play the prompt texts; any key interrupts and is returned."""
    for text in prompt.texts:
        key = await channel.play(await deps.prompts.prompt_path(text), DTMF_KEYS)
        if key is not None:
            return key
    return None


async def _route(channel: Channel, route: Route, record: CallRecord, deps: InboundDeps) -> None:
    record.route, record.choice = route.queue, route.choice
    if deps.call_backs is not None and await _keep_place(channel, route, record, deps):
        return
    await channel.play(await deps.prompts.prompt_path(deps.menu.transfer_prompt))
    await channel.set_variable(INHERITED + "IVR_CHOICE", route.choice)
    await channel.set_variable(INHERITED + "IVR_MENU_PATH", ">".join(record.menu_path))
    if route.priority:
        await channel.set_variable("QUEUE_PRIO", str(route.priority))
    await channel.set_variable("IVR_QUEUE", route.queue)  # last: the dialplan acts on it
    record.outcome = CallOutcome.ROUTED
    log.info("call %s routed to %s (%s)", record.call_id, route.queue, route.choice)


async def _keep_place(
    channel: Channel, route: Route, record: CallRecord, deps: InboundDeps
) -> bool:
    """Virtual hold: a caller facing a long wait may press 1 to keep their place (their
    arrival now, before the offer was read) and hang up; they are called back when their turn
    comes. True when the place was kept (the call ends here); anything else, or a failure to
    keep it, and the caller joins the queue as before."""
    assert deps.call_backs is not None
    arrived = deps.clock()
    offer = deps.call_backs.desk.offer(route.queue, record.caller_number, arrived)
    if offer is None:
        return False
    record.steps.append(CallStep(deps.clock(), StepKind.PROMPT, "virtual_hold", None, "offer"))
    key = await channel.play(await deps.prompts.prompt_path(offer), OFFER_KEYS)
    if key is None:
        key = await channel.wait_for_digit(deps.call_backs.digit_timeout_ms)
    if key != KEEP_KEY:
        return False
    try:
        kept = await deps.call_backs.desk.keep(
            route.queue, record.caller_number, record.call_id, arrived
        )
    except Exception:
        log.exception("call %s: place not kept; the caller waits in the queue", record.call_id)
        return False
    if not kept:
        return False
    record.steps.append(
        CallStep(deps.clock(), StepKind.KEY, "virtual_hold", key, f"place kept in {route.queue}")
    )
    record.outcome = CallOutcome.ROUTED
    log.info("call %s kept its place in %s (virtual hold)", record.call_id, route.queue)
    with contextlib.suppress(CallerHungUp):
        await channel.play(await deps.prompts.prompt_path(KEPT_CONFIRM))
        await channel.hangup()
    return True


def _sync(record: CallRecord, session: MenuSession) -> None:
    record.menu_path = list(session.path)
    record.keys = session.keys
    known = len(record.steps)
    record.steps.extend(session.steps[known:])
