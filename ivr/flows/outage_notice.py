"""The outage notice (停电信息) in the 95598 menu: what a caller under an active outage hears.

Right after the greeting, a caller whose number is in the register and whose area or feeder is
under an active outage hears ``您所在的{区域}因{原因}停电，预计{时间}恢复供电``, then 1 repeats it,
2 (or silence) goes on to the menu, and any other key is taken as their menu choice. At menu 2-3
(停电信息查询) the same notice is read for the caller's number, or for a 户号 they key in. The
lookups are in memory (``OutageLookup``), so the notice adds no database read to a call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ivr.domain.calls import CallRecord, CallStep, StepKind
from ivr.domain.menu import MenuSession
from ivr.domain.outages import (
    ACCOUNT_MAX_DIGITS,
    ASK_ACCOUNT,
    NO_OUTAGE,
    NOTICE_KEYS,
    UNKNOWN_ACCOUNT,
    Notice,
)
from ivr.ports import Channel, OutageLookup, PromptLibrary

NODE = "outage_notice"
REPEAT, MENU = "1", "2"
ACCOUNT_END = "#"


@dataclass(frozen=True, slots=True)
class NoticeDeps:
    lookup: OutageLookup
    menu_choice: str = "billing.outage_info"  # the menu route that reads outages instead
    digit_timeout_ms: int = 5000
    max_plays: int = 3  # the notice and two repeats; then the caller goes on to the menu
    account_tries: int = 2


def texts() -> set[str]:
    """The fixed texts of this flow, rendered at start with the menu's."""
    return {NOTICE_KEYS, NO_OUTAGE, ASK_ACCOUNT, UNKNOWN_ACCOUNT}


async def offer(
    channel: Channel,
    notice: Notice,
    record: CallRecord,
    session: MenuSession,
    prompts: PromptLibrary,
    deps: NoticeDeps,
    clock: Callable[[], datetime],
) -> str | None:
    """Read the notice until the caller goes on; returns the key that moved them on (None:
    silence). The call is marked with the outage once the notice was heard through (or cut
    short by a key): a hang-up from then on counts as informed."""
    plays = 0
    while True:
        plays += 1
        _step(session, clock, StepKind.PROMPT, detail=f"outage {notice.outage_id}")
        key = await channel.play(await prompts.prompt_path(notice.text), "0123456789*#")
        record.outage_id = notice.outage_id
        if key is None:
            key = await channel.play(await prompts.prompt_path(NOTICE_KEYS), "0123456789*#")
        if key is None:
            key = await channel.wait_for_digit(deps.digit_timeout_ms)
        if key == REPEAT and plays < deps.max_plays:
            _step(session, clock, StepKind.REPLAY, key=key)
            continue
        if key is None:
            _step(session, clock, StepKind.TIMEOUT)
        else:
            _step(session, clock, StepKind.KEY, key=key, detail="menu")
        return key


async def ask_account(
    channel: Channel,
    session: MenuSession,
    prompts: PromptLibrary,
    deps: NoticeDeps,
    clock: Callable[[], datetime],
) -> str | None:
    """Ask for the 户号 (keys, ended by #) until a known one comes; None: none did, or the
    caller keyed nothing (they go to the queue at once)."""
    for attempt in range(deps.account_tries):
        if attempt:
            await channel.play(await prompts.prompt_path(UNKNOWN_ACCOUNT))
        key = await channel.play(await prompts.prompt_path(ASK_ACCOUNT), "0123456789#")
        digits = ""
        while True:
            if key is None:
                key = await channel.wait_for_digit(deps.digit_timeout_ms)
            if key is None or key == ACCOUNT_END:
                break
            if key.isdigit():
                digits += key
                if len(digits) >= ACCOUNT_MAX_DIGITS:
                    break
            key = None
        if not digits:  # silence: the caller wants a person, not another question
            _step(session, clock, StepKind.TIMEOUT)
            return None
        _step(session, clock, StepKind.KEY, detail=f"account {len(digits)} digits")
        if await deps.lookup.account_known(digits):
            return digits
    return None


async def outage_info(
    channel: Channel,
    record: CallRecord,
    session: MenuSession,
    prompts: PromptLibrary,
    deps: NoticeDeps,
    clock: Callable[[], datetime],
) -> str | bool | None:
    """Menu 2-3: the notice for the caller's number or keyed-in 户号. Returns the key that
    moved the caller on after a notice (None: silence), or False when there was no notice
    to read (the caller goes to the queue the menu names, as before)."""
    _step(session, clock, StepKind.PROMPT, detail="outage info")
    notice = deps.lookup.for_phone(record.caller_number)
    if notice is None:
        account = await ask_account(channel, session, prompts, deps, clock)
        if account is None:
            return False
        notice = deps.lookup.for_account(account)
    if notice is None:
        await channel.play(await prompts.prompt_path(NO_OUTAGE))
        return False
    return await offer(channel, notice, record, session, prompts, deps, clock)


def _step(
    session: MenuSession,
    clock: Callable[[], datetime],
    kind: StepKind,
    key: str | None = None,
    detail: str | None = None,
) -> None:
    session.steps.append(CallStep(clock(), kind, NODE, key, detail))
