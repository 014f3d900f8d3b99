"""Real calls on the sandbox: a caller from an outage's area hears its notice right after the
greeting, in our TTS; a caller from elsewhere does not; an unknown caller keys in a 户号 at menu
2-3 and hears the notice of that customer's area. "Hears" is checked in a recording the
simulated caller makes of its own leg (``Record()``: only audio that reached the caller), by
finding the rendered notice's envelope in it, and in the call row (outage, informed).
"""

from __future__ import annotations

import asyncio
import uuid
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.config import Settings
from ivr.domain.calls import CallOutcome
from ivr.domain.outages import Customer, OutageKind, notice_text
from ivr_sandbox.simulation import SimulatedCaller, place_call
from tests.integration.asterisk_fixtures import wait_for_records
from tests.integration.test_agent_greeting import best_match, envelope

pytestmark = pytest.mark.integration

AREA, OTHER = "测试停电小区", "测试正常小区"
INSIDE, OUTSIDE, UNKNOWN = "13500000201", "13500000202", "13500000203"
ACCOUNT = "2000000201"
CAUSE = "线路故障"


def seconds(prompt: Path) -> float:
    with wave.open(str(prompt.with_suffix(".wav")), "rb") as w:
        return w.getnframes() / w.getframerate()


async def heard_in(target: Path) -> list[float]:
    wav = target.with_suffix(".wav")
    for _ in range(25):  # Record() closes its file as the channel goes
        if wav.exists():
            break
        await asyncio.sleep(0.2)
    try:
        return envelope(wav)
    finally:
        wav.unlink(missing_ok=True)


@pytest.fixture
async def outage(bridge):  # type: ignore[no-untyped-def]
    """Customers in two areas, a fault outage over one, the index rebuilt; cancelled after."""
    assert bridge.notices is not None
    await bridge.customers.upsert(
        [
            Customer(ACCOUNT, "测试甲", (INSIDE,), "测试路1号", AREA),
            Customer("2000000202", "测试乙", (OUTSIDE,), "测试路2号", OTHER),
        ]
    )
    now = datetime.now(UTC)
    declared = await bridge.outages.declare(
        OutageKind.FAULT, [AREA], [], now - timedelta(minutes=5), now + timedelta(hours=3),
        CAUSE, "test",
    )  # fmt: skip
    await bridge.notices.refresh()
    yield declared
    await bridge.outages.cancel(declared.id, "test over", "test")
    await bridge.notices.refresh()


async def test_a_caller_from_the_outage_area_hears_the_notice_one_outside_does_not(
    bridge, ami, outage
) -> None:  # type: ignore[no-untyped-def]
    client, _ = ami
    zone = ZoneInfo(bridge.settings.tracking.timezone)
    text = notice_text(outage, AREA, zone, datetime.now(UTC))
    notice = await bridge.prompts.prompt_path(text)
    greeting = await bridge.prompts.prompt_path(bridge.menu.greeting)
    hold = seconds(greeting) + seconds(notice) + 2.0  # then hangs up: informed
    recordings = Settings().sandbox.recordings_dir
    targets = {n: recordings / f"outage-{n}-{uuid.uuid4().hex[:6]}" for n in (INSIDE, OUTSIDE)}
    await asyncio.gather(
        *(
            place_call(client, SimulatedCaller(n, pause_s=0, hold_s=hold), record_to=str(t))
            for n, t in targets.items()
        )
    )
    records = await wait_for_records(bridge, {INSIDE, OUTSIDE}, timeout_s=120)
    wanted = envelope(notice.with_suffix(".wav"))[:-10]
    inside = best_match(await heard_in(targets[INSIDE]), wanted)
    outside = best_match(await heard_in(targets[OUTSIDE]), wanted)
    print(f"notice: inside at {inside[0] * 20} ms, correlation {inside[1]:.3f}; "
          f"outside best {outside[1]:.3f}")  # fmt: skip
    assert inside[1] > 0.9
    assert inside[0] * 0.02 >= seconds(greeting) - 1.0  # after the greeting
    assert outside[1] < 0.8
    called, elsewhere = records[INSIDE], records[OUTSIDE]
    assert called.outage_id == outage.id and called.informed
    assert called.outcome is CallOutcome.ABANDONED_IN_MENU
    assert any(s.node == "outage_notice" for s in called.steps)
    assert elsewhere.outage_id is None and not elsewhere.informed
    assert not any(s.node == "outage_notice" for s in elsewhere.steps)
    counts = await bridge.outage_register.informed_counts()
    assert counts.get(outage.id) == 1


async def test_an_unknown_caller_keys_in_the_account_at_menu_2_3(bridge, ami, outage) -> None:  # type: ignore[no-untyped-def]
    client, _ = ami
    text = notice_text(outage, AREA, ZoneInfo(bridge.settings.tracking.timezone), datetime.now(UTC))
    notice = await bridge.prompts.prompt_path(text)
    keys = "2ww3ww" + "w".join(ACCOUNT) + "w#"
    hold = seconds(notice) + 6.0
    target = Settings().sandbox.recordings_dir / f"outage-account-{uuid.uuid4().hex[:6]}"
    await place_call(
        client, SimulatedCaller(UNKNOWN, keys, pause_s=1.5, hold_s=hold), record_to=str(target)
    )
    record = (await wait_for_records(bridge, {UNKNOWN}, timeout_s=120))[UNKNOWN]
    # the caller starts recording once its # is sent, as the bridge starts the notice: all of
    # the notice but its first second is certainly in the recording
    wanted = envelope(notice.with_suffix(".wav"))[50:-10]
    offset, score = best_match(await heard_in(target), wanted)
    print(f"notice after the 户号 at {offset * 20} ms, correlation {score:.3f}")
    assert score > 0.9
    assert record.outage_id == outage.id and record.informed
    assert record.menu_path[:2] == ["main", "billing"]
    details = [s.detail for s in record.steps if s.node == "outage_notice"]
    assert f"account {len(ACCOUNT)} digits" in details
    assert ACCOUNT not in "".join(d or "" for d in details)  # the 户号 itself is not stored
