"""The inspectors' page and the agent's recordings in a real headless Chromium, on the bridge's
own web app and real WAV files: the inspector's page lists the queue, opens a call, the
``<audio>`` player loads through a signed link (no token in the request), seeks with range
requests that are audited under the inspector, the automatic findings are shown beside the
form, and the scores are saved as an inspection, which the supervisor's dashboard then shows
in the month's error rate and score. The agent's workspace lists and plays only
the agent's own calls; the page cannot get a link to another agent's call, and a tampered or
expired link does not play."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.db.centre_secrets import SqlCentreSecrets
from ivr.domain.access import Principal, Role
from ivr.domain.playback_links import sign
from ivr_sandbox.browser import Browser
from tests.integration.api_app import AGENT_JOB, Api, api_app
from tests.integration.test_dashboard import _browser_or_fail, until
from tests.integration.test_inspection_api import store_recordings

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Api, dict[str, int]]]:
    async with api_app(tmp_path) as found:
        ids = await store_recordings(found, tmp_path / "recordings", seconds=20)
        yield found, ids


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _browser_or_fail()
    found = await asyncio.to_thread(Browser)
    yield found
    await asyncio.to_thread(found.close)


async def js(browser: Browser, script: str) -> Any:
    return await asyncio.to_thread(browser.driver.execute_script, script)


async def click(browser: Browser, selector: str) -> None:
    def press() -> None:
        browser.driver.find_element("css selector", selector).click()

    await asyncio.to_thread(press)


async def playbacks(app: Api, recording_id: int) -> list[dict[str, Any]]:
    response = await app.client.get(
        f"/api/recordings/{recording_id}", headers=app.auth(Role.SUPERVISOR)
    )
    return list((await response.json())["playbacks"])


async def test_the_inspector_plays_seeks_and_scores_a_call(
    api: tuple[Api, dict[str, int]], browser: Browser
) -> None:
    app, ids = api
    page = app.client.make_url("/inspection")
    token = app.tokens[Role.INSPECTOR]
    await asyncio.to_thread(browser.open, f"{page}#token={token}&period=2026-12-05")
    assert "token" not in await js(browser, "return location.href")  # out of the address bar

    async def queue_rows() -> int:
        return int(await js(browser, "return document.querySelectorAll('#queue tbody tr').length"))

    await until(lambda: queue_rows(), 15, "the queue listed")
    assert "complaint" in await asyncio.to_thread(browser.text, "queue")
    mine = ids["call0"]
    await until(
        lambda: js(
            browser, f"return !!document.querySelector('#recent button[data-recording=\"{mine}\"]')"
        ),
        15,
        "recent recordings listed",
    )
    await click(browser, f'#recent button[data-recording="{mine}"]')

    async def loaded() -> bool:
        return bool(await js(browser, "return $('audio-agent').readyState >= 1"))

    await until(loaded, 20, "the player loaded the agent side")
    assert abs(float(await js(browser, "return $('audio-agent').duration")) - 20) < 0.5
    source = str(await js(browser, "return $('audio-agent').src"))
    assert "sig=" in source and token not in source
    await js(browser, "$('audio-agent').currentTime = 15")

    async def seeked() -> bool:
        return bool(
            await js(
                browser,
                "const a = $('audio-agent');"
                " return !a.seeking && Math.abs(a.currentTime - 15) < 0.5",
            )
        )

    await until(seeked, 20, "the player seeked to 15 s")
    served = [p for p in await playbacks(app, mine) if p["outcome"] == "served"]
    assert served, "the player's requests are audited"
    assert {p["principal"] for p in served} == {"t-inspector"}
    assert any((p["range"] or "").startswith("bytes=") for p in served), served

    # the automatic findings beside the form; scores and the finding used are saved
    assert "long_silence" in await asyncio.to_thread(browser.text, "findings")
    await click(browser, "input.finding")
    await js(browser, "$('score-opening').value = '5'; $('comment').value = '开场白不完整'")
    await click(browser, "#save")

    async def saved() -> bool:
        return "saved" in await asyncio.to_thread(browser.text, "form-status")

    await until(saved, 15, "the inspection saved")
    assert "failed: opening" in await asyncio.to_thread(browser.text, "form-status")
    response = await app.client.get("/api/inspections", headers=app.auth(Role.SUPERVISOR))
    (stored,) = (await response.json())["inspections"]
    assert stored["recording_id"] == mine and stored["inspector"] == "t-inspector"
    assert stored["findings_used"] == ["long_silence"] and stored["comment"] == "开场白不完整"
    assert stored["failed_items"] == ["opening"] and stored["score"] == 90.0

    # the supervisor's dashboard shows the month's error rate and score, per agent too
    await asyncio.to_thread(
        browser.open,
        f"{app.client.make_url('/dashboard')}#token={app.tokens[Role.SUPERVISOR]}&month=2026-12",
    )

    async def reported() -> bool:
        return "100.0% / 1" in await asyncio.to_thread(browser.text, "report-centre")

    await until(reported, 20, "the month's error rate on the dashboard")
    assert "90" in await asyncio.to_thread(browser.text, "report-centre")
    agents = await asyncio.to_thread(browser.text, "report-agents")
    assert f"{AGENT_JOB}" in agents and "100.0% / 1" in agents


async def test_the_agent_plays_only_their_own_calls(
    api: tuple[Api, dict[str, int]], browser: Browser
) -> None:
    app, ids = api
    page = app.client.make_url("/workspace")
    await asyncio.to_thread(browser.open, f"{page}#token={app.tokens[Role.AGENT]}")

    async def listed() -> int:
        return int(
            await js(browser, "return document.querySelectorAll('#recordings button.play').length")
        )

    assert await until(listed, 15, "the agent's recordings listed") == 4  # #0-#3, not #4-#5
    shown = await asyncio.to_thread(browser.text, "recordings")
    assert f"{0xABC004:032x}" not in shown and f"{0xABC000:032x}" in shown
    own = ids["call2"]
    await click(browser, f'#recordings button[data-recording="{own}"]')

    async def loaded() -> bool:
        return bool(await js(browser, "return $('play-agent').readyState >= 1"))

    await until(loaded, 20, "the agent's player loaded")
    assert any(p["principal"] == "t-agent" for p in await playbacks(app, own))

    # the page cannot get a link for another agent's call
    theirs = ids["call4"]
    status = await js(
        browser,
        f"return api('/api/recordings/{theirs}/playback-url', {{method: 'POST'}})"
        ".then(r => r.status)",
    )
    assert status == 403

    # a tampered or expired link does not play (refused before any byte is served)
    served_before = len([p for p in await playbacks(app, own) if p["outcome"] == "served"])
    good = str(await js(browser, "return $('play-agent').src"))
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    secret = await SqlCentreSecrets(app.bridge.engine).playback_secret()
    old = sign(
        secret,
        own,
        Principal("t-agent", Role.AGENT, AGENT_JOB),
        datetime.now(UTC) - timedelta(minutes=10),
        300,
    )
    expired = "&".join(f"{k}={v}" for k, v in old.query().items())
    for url in (flipped, f"/api/recordings/{own}/audio?side=agent&{expired}"):
        await js(browser, f"$('play-agent').src = {url!r}")

        async def refused() -> bool:
            return bool(await js(browser, "return $('play-agent').error !== null"))

        await until(refused, 15, f"the player refused {url[-20:]}")
    served_after = len([p for p in await playbacks(app, own) if p["outcome"] == "served"])
    assert served_after == served_before
