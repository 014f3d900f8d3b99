"""PromptCache end to end: real pyttsx3/espeak-ng in a real worker process, real sox, real files."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ivr.config import SpeechSettings
from ivr.domain import spoken
from ivr.domain.agents import greeting_text
from ivr.domain.callbacks import CallbackContext, script_greeting
from ivr.domain.dispatch import DispatchContext, order_message
from ivr.domain.workorders import OrderKind
from ivr.speech import PromptCache, PromptRenderError, SpeechRenderer, verify_speech_wav, wav_info
from ivr.speech.tts import describe

VOICE = "sit/cmn-latn-pinyin"
RATE = 165
WELCOME = "您好，欢迎致电95598供电服务热线。"
MENU = "故障报修请按1，电费查询和业务咨询请按2"
CALLBACK = (
    "您好，我是供电公司客户服务中心1024号，请问您是王先生吗？您那里的故障我们已经修复完毕，"
    "请问您用电正常了吗？欢迎您对我们的工作提出建议，再见。"
)


def wav_of(base: Path) -> Path:
    """Asterisk gets the path without extension; the file on disk is ``<base>.wav``."""
    return base.with_name(base.name + ".wav")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prompts")


@pytest.fixture(scope="module")
async def cache(cache_dir: Path) -> AsyncIterator[PromptCache]:
    async with PromptCache(cache_dir, VOICE, RATE) as prompts:
        yield prompts


@pytest.fixture
def strict_umask() -> Iterator[None]:
    """Asterisk runs as another user: files must be readable whatever our umask is."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


async def test_menu_prompts_are_playable_8k_mono_16bit(cache: PromptCache, cache_dir: Path) -> None:
    paths = await cache.prerender([WELCOME, MENU, CALLBACK, WELCOME])

    assert list(paths) == [WELCOME, MENU, CALLBACK]
    for text, base in paths.items():
        assert base.suffix == "" and base.is_absolute()
        assert base.parent.parent == cache_dir and base.parent.name == base.name[:2]
        info = verify_speech_wav(wav_of(base), rate=8000, channels=1)
        assert info.sampwidth == 2
        assert info.duration_s > 1.0
        # Mandarin TTS speaks roughly 2-6 characters a second: a cut-off render fails this.
        assert 1.5 < len(text) / info.duration_s < 8, (text, info)
    assert wav_info(wav_of(paths[CALLBACK])).duration_s > 10


async def test_long_sentence_renders_completely_five_times_in_one_worker(tmp_path: Path) -> None:
    # Fails with plain pyttsx3 (init, setProperty, save_to_file, runAndWait): espeak-ng
    # synthesises asynchronously and, in a fresh process, runAndWait returns as soon as espeak
    # has *queued* the text, so long0.wav is never written ("missing"). Short texts often finish
    # within the driver's 10 ms poll and hide the bug. See _synthesize and _worker_init in tts.py.
    renderer = SpeechRenderer(VOICE, RATE)
    try:
        pid = await renderer.worker_pid()
        long_runs, short_runs = [], []
        for i in range(5):
            long_runs.append(await renderer.render(CALLBACK, tmp_path / f"long{i}.wav"))
            short_runs.append(await renderer.render(MENU, tmp_path / f"short{i}.wav"))
        assert await renderer.worker_pid() == pid
    finally:
        await renderer.close()

    for info in long_runs + short_runs:
        assert (info.rate, info.channels, info.sampwidth) == (8000, 1, 2)
    for i in range(5):
        for name in (f"long{i}.wav", f"short{i}.wav"):
            verify_speech_wav(tmp_path / name, rate=8000, channels=1)
    # Every render of a text has about the same length (espeak carries some state from one
    # utterance to the next: timing shifts by up to ~0.1 s), and the long text is far longer
    # than the short one: a cut-off, stale or swapped file would break this.
    for runs in (long_runs, short_runs):
        assert max(r.duration_s for r in runs) < 1.03 * min(r.duration_s for r in runs)
    assert min(r.duration_s for r in long_runs) > 2 * max(r.duration_s for r in short_runs)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"long{i}.wav" for i in range(5)] + [f"short{i}.wav" for i in range(5)]
    )  # no leftover raw 22 kHz files


async def test_second_request_is_a_cache_hit(cache: PromptCache, cache_dir: Path) -> None:
    text = "您好，请问您要办理什么业务？"
    base = await cache.prompt_path(text)
    renders, mtime = cache.render_count, wav_of(base).stat().st_mtime_ns

    assert await cache.prompt_path(text) == base
    assert cache.render_count == renders
    assert wav_of(base).stat().st_mtime_ns == mtime

    async with PromptCache(cache_dir, VOICE, RATE) as restarted:  # a new process: hit from disk
        assert await restarted.prompt_path(text) == base
        assert restarted.render_count == 0
    assert wav_of(base).stat().st_mtime_ns == mtime


async def test_concurrent_requests_for_one_text_share_one_render(cache: PromptCache) -> None:
    text = "电费查询请按1，业务咨询请按2，返回上级菜单请按星号键。"
    renders = cache.render_count

    paths = await asyncio.gather(*(cache.prompt_path(text) for _ in range(10)))

    assert cache.render_count == renders + 1
    assert set(paths) == {paths[0]}
    verify_speech_wav(wav_of(paths[0]), rate=8000, channels=1)


async def test_a_caller_hanging_up_does_not_cancel_the_shared_render(cache: PromptCache) -> None:
    text = "您的来电将转接人工服务，请稍候。"
    renders = cache.render_count
    first = asyncio.create_task(cache.prompt_path(text))
    second = asyncio.create_task(cache.prompt_path(text))
    await asyncio.sleep(0)  # both are now waiting on the one render
    first.cancel()

    base = await second

    assert first.cancelled()
    assert cache.render_count == renders + 1
    verify_speech_wav(wav_of(base), rate=8000, channels=1)


async def test_event_loop_keeps_running_during_a_render(cache: PromptCache) -> None:
    render = asyncio.create_task(cache.prompt_path(CALLBACK + "谢谢您的耐心。"))
    ticks_while_rendering = 0

    async def other_call() -> None:
        nonlocal ticks_while_rendering
        while not render.done():
            ticks_while_rendering += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_call())
    await render
    await other

    # A render that blocked the loop would finish in its first step, before other_call ran.
    assert ticks_while_rendering >= 3
    verify_speech_wav(wav_of(render.result()), rate=8000, channels=1)


async def test_changing_rate_or_voice_changes_the_path(cache: PromptCache, cache_dir: Path) -> None:
    text = "停电信息查询请按3。"
    faster = PromptCache(cache_dir, VOICE, 220)
    try:
        slow_base, fast_base = await cache.prompt_path(text), await faster.prompt_path(text)
    finally:
        await faster.close()

    assert slow_base != fast_base
    assert faster.render_count == 1
    slow = verify_speech_wav(wav_of(slow_base), rate=8000, channels=1)
    fast = verify_speech_wav(wav_of(fast_base), rate=8000, channels=1)
    assert fast.duration_s < slow.duration_s  # the rate really reached espeak
    assert PromptCache(cache_dir, "sit/cmn", RATE).path_for(text) != cache.path_for(text)
    assert PromptCache.from_settings(
        SpeechSettings(voice=VOICE, rate=RATE, cache_dir=cache_dir)
    ).path_for(text) == cache.path_for(text)


@pytest.mark.usefixtures("strict_umask")
async def test_files_are_0644_and_directories_0755(tmp_path: Path) -> None:
    root = tmp_path / "var" / "cache" / "prompts"
    async with PromptCache(root, VOICE, RATE) as prompts:
        base = await prompts.prompt_path(WELCOME)

    assert stat.S_IMODE(wav_of(base).stat().st_mode) == 0o644
    for directory in (base.parent, root, root.parent, root.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755, directory
    assert [p.name for p in base.parent.iterdir()] == [wav_of(base).name]  # no temp files


async def test_a_corrupt_cached_file_is_rendered_again(cache: PromptCache, cache_dir: Path) -> None:
    text = "欢迎再次致电，祝您生活愉快。"
    base = await cache.prompt_path(text)
    wav_of(base).write_bytes(b"not a wav file")

    async with PromptCache(cache_dir, VOICE, RATE) as restarted:
        assert await restarted.prompt_path(text) == base
        assert restarted.render_count == 1
    verify_speech_wav(wav_of(base), rate=8000, channels=1)


async def test_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    async with PromptCache(tmp_path, VOICE, RATE) as prompts:
        first = await prompts._renderer.worker_pid()
        os.kill(first, signal.SIGKILL)

        base = await prompts.prompt_path(MENU)

        assert await prompts._renderer.worker_pid() != first
    verify_speech_wav(wav_of(base), rate=8000, channels=1)


async def test_unrenderable_text_raises_an_error_naming_it(cache: PromptCache) -> None:
    # named by digest and length, never by its words (a prompt may speak personal data)
    with pytest.raises(PromptRenderError, match=re.escape(describe("。。。。"))) as excinfo:
        await cache.prompt_path("。。。。")  # espeak renders only a pause: silent
    assert "silent" in str(excinfo.value) and "。" not in str(excinfo.value)

    long_silence = "，" * 200
    with pytest.raises(PromptRenderError) as excinfo:
        await cache.prompt_path(long_silence)
    assert "(200 characters)" in str(excinfo.value) and "，" not in str(excinfo.value)

    with pytest.raises(PromptRenderError, match="empty"):
        await cache.prompt_path("  ")
    # The worker survives a failed render.
    verify_speech_wav(wav_of(await cache.prompt_path("再见。")), rate=8000, channels=1)


async def test_missing_voice_is_reported_clearly(tmp_path: Path) -> None:
    async with PromptCache(tmp_path, "no/such-voice", RATE) as prompts:
        with pytest.raises(PromptRenderError, match=r"no/such-voice.*not installed"):
            await prompts.prompt_path(WELCOME)
    assert not list(tmp_path.rglob("*.wav"))


async def test_a_hung_render_is_killed_and_the_next_render_works(tmp_path: Path) -> None:
    renderer = SpeechRenderer(VOICE, RATE)
    try:
        first = await renderer.worker_pid()
        renderer.timeout_s = 0.0001  # no render (IPC + espeak + sox) fits: treated as a hang
        with pytest.raises(PromptRenderError, match=r"hung.*killed"):
            await renderer.render(CALLBACK, tmp_path / "hung.wav")

        renderer.timeout_s = 60.0
        info = await renderer.render(CALLBACK, tmp_path / "after.wav")
        assert await renderer.worker_pid() != first
    finally:
        await renderer.close()
    assert info.duration_s > 10
    with pytest.raises(PromptRenderError, match="closed"):
        await renderer.render(MENU, tmp_path / "closed.wav")


def phonemes(text: str) -> str:
    return subprocess.run(
        ["espeak-ng", "-q", "-v", "cmn-latn-pinyin", "-x", text],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


async def test_dynamic_scripts_render_with_the_reading_a_person_uses(cache: PromptCache) -> None:
    opening = greeting_text("1024")
    texts = [
        opening,
        script_greeting(CallbackContext("A1", OrderKind.REPAIR, "王", "女士", "1024")),
        order_message(DispatchContext("A1", "1024", "幸福路12号", "停电", "13812345678", "停电")),
        spoken.amount_yuan("1005.30"),
    ]
    paths = await cache.prerender(texts)
    for base in paths.values():
        verify_speech_wav(wav_of(base), rate=8000, channels=1)
    # espeak reads the digits "1024" as a quantity (一千…: tS;h'iE55n); the spoken form is
    # yāo líng èr sì, digit by digit, and nothing falls back to English
    assert "tS;h'iE55n" in phonemes("1024号")
    said = phonemes(opening)
    assert "j'Au55_| l'i35N_| '@r51_| s'i[51" in said and "tS;h'iE55n" not in said
    assert all("(en)" not in phonemes(text) for text in texts)


async def test_a_personal_prompt_is_private_to_the_call_and_gone_after_it(
    tmp_path: Path, strict_umask: None
) -> None:
    """The dispatch call's order (address, customer's number) is never in the shared cache:
    a random name in personal/ (0640, in a setgid 02750 directory of the cache's group),
    deleted when the call is done with it, even when the call fails."""
    cache_dir = tmp_path / "prompts"
    cache_dir.mkdir()
    # a group that is not ours (the suite runs as root, as the sandbox needs): Asterisk's
    group = 4242 if os.geteuid() == 0 else os.getgid()
    os.chown(cache_dir, -1, group)
    text = order_message(DispatchContext("A1", "1024", "幸福路12号", "停电", "13812345678", "停电"))
    async with PromptCache(cache_dir, VOICE, RATE) as cache:
        async with cache.personal(text) as base:
            wav = wav_of(base)
            verify_speech_wav(wav, rate=8000, channels=1)
            assert wav.parent == cache_dir / "personal"
            assert base != cache.path_for(text) and not wav_of(cache.path_for(text)).exists()
            assert re.fullmatch(r"[0-9a-f]{32}", base.name), base.name
            directory = wav.parent.stat()
            assert stat.S_IMODE(directory.st_mode) == 0o2750
            assert directory.st_gid == group
            assert stat.S_IMODE(wav.stat().st_mode) == 0o640
            assert wav.stat().st_gid == group  # the setgid directory gave it Asterisk's group
        assert list((cache_dir / "personal").iterdir()) == []

        with pytest.raises(RuntimeError):
            async with cache.personal(text) as base:
                assert wav_of(base).exists()
                raise RuntimeError("the call failed")
        assert list((cache_dir / "personal").iterdir()) == []

        left = cache_dir / "personal" / f"{'0' * 32}.wav"  # a killed bridge's
        left.write_bytes(b"RIFF")
        assert cache.remove_personal_leftovers() == 1
        assert list((cache_dir / "personal").iterdir()) == []
    assert list(cache_dir.rglob("*.wav")) == []  # nothing of it in the shared cache
