"""Privacy (不准对外泄露客户个人信息): a customer's phone number never reaches a log line whole,
however it is written and wherever in the record it stands; values sent to the database are
never echoed into logs; prompt texts (which speak addresses and numbers) are never logged."""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ivr import logging_setup
from ivr.db.engine import create_engine
from ivr.db.spool import JsonLinesFile
from ivr.domain.privacy import mask_numbers_in
from ivr.speech.tts import describe

WRITTEN_FORMS = [
    "13800138000",
    "138 0013 8000",
    "138-0013-8000",
    "+8613800138000",
    "+86 138 0013 8000",
    "008613800138000",
    "010-62345678",
    "010 6234 5678",
    "(0755) 8888 6666",
    "+86 755 8888 6666",
]
NOT_PHONES = ["1733312345.123", "1733312345123", "95598", "2026-12-04 16:25:12,345", "1001 1002"]


@pytest.mark.parametrize("written", WRITTEN_FORMS)
def test_a_phone_number_is_masked_however_it_is_written(written: str) -> None:
    masked = mask_numbers_in(f"caller {written} pressed 1")
    digits = "".join(ch for ch in written if ch.isdigit())
    assert "".join(ch for ch in masked if ch.isdigit()) != digits
    assert "*" in masked


@pytest.mark.parametrize("value", NOT_PHONES)
def test_times_ids_and_service_numbers_are_left_readable(value: str) -> None:
    assert mask_numbers_in(f"x {value} y") == f"x {value} y"


def _bridge_log() -> tuple[logging.Logger, io.StringIO]:
    """A logger wired like ``ivr run`` (``logging_setup.configure``), writing to a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging_setup.MaskingFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tests.standard.privacy")
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger, out


def test_a_traceback_quoting_a_number_is_masked_in_the_log() -> None:
    logger, out = _bridge_log()
    try:
        raise RuntimeError("AGI said 600 13800138999 for the caller 138 0013 8000")
    except RuntimeError:
        logger.exception("menu failed")
    written = out.getvalue()
    assert "Traceback" in written and "RuntimeError" in written
    assert "13800138999" not in written and "0013 8000" not in written


def test_a_registered_secret_never_reaches_the_log() -> None:
    logger, out = _bridge_log()
    logging_setup.register_secret("s3cret-ami-value")
    try:
        raise ValueError("login failed with s3cret-ami-value")
    except ValueError:
        logger.exception("AMI")
    assert "s3cret-ami-value" not in out.getvalue()


async def test_a_failed_insert_does_not_echo_its_values(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE c (phone TEXT UNIQUE)"))
            await conn.execute(text("INSERT INTO c VALUES (:p)"), {"p": "13800138000"})
        with pytest.raises(IntegrityError) as caught:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO c VALUES (:p)"), {"p": "13800138000"})
        assert "13800138000" not in str(caught.value)
    finally:
        await engine.dispose()


def test_a_prompt_is_named_in_logs_by_digest_not_by_its_words() -> None:
    said = "地址：幸福路十二号。客户回拨电话：幺三八，零零幺三，八零零零。"
    named = describe(said)
    assert "幸福路" not in named and "幺三八" not in named
    assert named == describe(said) != describe(said + "。")


def test_an_outbound_attempt_id_never_reaches_the_log_whole() -> None:
    """An attempt id names a 回访 or a dispatch call to the AGI routes; logs keep 8 hex digits
    of it, enough to follow the attempt, not enough to name it."""
    logger, out = _bridge_log()
    attempt = "cb-" + "0123456789abcdef" * 2
    logger.warning("callback %s: dialling; crew call %s", attempt, "dp-" + "f" * 32)
    written = out.getvalue()
    assert attempt not in written and "f" * 32 not in written
    assert "cb-01234567…" in written and "dp-ffffffff…" in written


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_spool_files_are_private(tmp_path: Path) -> None:
    """Spools hold what the database could not take (callers' numbers among it): 0600 under
    a permissive umask, a wider file left by hand or an older release is narrowed on the next
    append (its lines kept), and a replacement is never readable by others, even a stale
    ``.tmp`` left by a crash."""
    old_umask = os.umask(0o022)
    try:
        fresh = JsonLinesFile(tmp_path / "fresh.jsonl")
        fresh.append_json({"caller": "13800138000"})
        assert _mode(fresh.path) == 0o600

        wide = JsonLinesFile(tmp_path / "wide.jsonl")
        wide.path.write_text('{"caller": "13900139000"}\n')
        os.chmod(wide.path, 0o644)
        wide.append_json({"caller": "13800138000"})
        assert _mode(wide.path) == 0o600
        assert [e["caller"] for e in wide.load_json()] == ["13900139000", "13800138000"]

        stale = wide.path.with_name(wide.path.name + ".tmp")
        stale.write_text("torn")
        os.chmod(stale, 0o644)
        wide.replace_json([{"caller": "13700137000"}])
        assert _mode(wide.path) == 0o600
        assert wide.load_json() == [{"caller": "13700137000"}]
        assert not stale.exists()
    finally:
        os.umask(old_umask)
