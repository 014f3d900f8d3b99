from __future__ import annotations

import logging

import pytest

from ivr.config import load_settings
from ivr.domain.privacy import mask_name, mask_number, mask_numbers_in
from ivr.logging_setup import MaskingFilter


def test_mask_number() -> None:
    assert mask_number("13812345678") == "138******78"
    assert mask_number("+86 138-1234-5678") == "861********78"
    assert mask_number("1234") == "****"
    assert mask_number(None) == "<none>"


def test_mask_name() -> None:
    assert mask_name("王小明") == "王**"


def test_free_text_masks_phones_but_not_asterisk_ids() -> None:
    text = "call 1732266221.12 from 13812345678 / 010-62345678 / +8613812345678"
    masked = mask_numbers_in(text)
    assert "13812345678" not in masked and "62345678" not in masked
    assert "1732266221.12" in masked


def test_logging_filter_masks_arguments() -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "caller %s", ("13812345678",), None)
    MaskingFilter().filter(record)
    assert record.getMessage() == "caller 138******78"


def test_settings_file_then_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ivr.toml"
    path.write_text('[agi]\nport = 4600\n[ami]\nsecret = "s3cret"\n', encoding="utf-8")
    monkeypatch.setenv("IVR_CONFIG", str(path))
    monkeypatch.setenv("IVR_AGI__HOST", "0.0.0.0")
    settings = load_settings()
    assert (settings.agi.host, settings.agi.port) == ("0.0.0.0", 4600)
    assert "s3cret" not in repr(settings) and settings.ami.secret.get_secret_value() == "s3cret"


def test_unknown_keys_and_missing_files_are_errors(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ivr.toml"
    path.write_text("[agi]\nprot = 1\n", encoding="utf-8")
    monkeypatch.setenv("IVR_CONFIG", str(path))
    with pytest.raises(ValueError, match="prot"):
        load_settings()
    monkeypatch.setenv("IVR_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError):
        load_settings()


def test_example_settings_file_loads(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IVR_CONFIG", "ivr.example.toml")
    assert load_settings().agi.port == 4573
