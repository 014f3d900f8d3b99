"""The [sip] settings and the Asterisk includes rendered from them."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

import pytest
from pydantic import ValidationError

from ivr.asterisk.sip_config import (
    EXTENSIONS_FILE,
    PJSIP_FILE,
    RenderError,
    _safe,
    render_sip_config,
)
from ivr.cli import main
from ivr.config import SandboxSettings, SipSettings
from ivr.sandbox.asterisk import sandbox_sip

SITE = SipSettings(
    bind_address=IPv4Address("10.1.2.3"),
    bind_port=5080,
    trunk_sources=[IPv4Network("203.0.113.10/32"), IPv4Network("198.51.100.0/28")],
    trunk_host=IPv4Address("203.0.113.10"),
    trunk_port=5070,
    codecs=["alaw", "g722"],
    dids=["95598", "4008195598"],
    dtmf_mode="info",
)


def sections(text: str) -> dict[str, list[str]]:
    """Section name → its lines, for every section (a name may repeat: the lines add up)."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if m := re.match(r"^\[([^\]]+)\]", line):
            current = m.group(1)
            found.setdefault(current, [])
        elif line and current:
            found[current].append(line)
    return found


def test_the_trunk_is_rendered_from_the_settings() -> None:
    files = render_sip_config(SITE).files
    pjsip = sections(files[PJSIP_FILE])
    assert "bind = 10.1.2.3:5080" in pjsip["transport-udp"]
    trunk = pjsip["trunk-95598"]
    assert "match = 203.0.113.10/32,198.51.100.0/28" in trunk
    assert "contact = sip:203.0.113.10:5070" in trunk
    assert "allow = alaw,g722" in trunk and "dtmf_mode = info" in trunk
    assert "trust_id_inbound = yes" in trunk  # caller ID from P-Asserted-Identity, else From
    assert "allow_transfer = no" in trunk and "context = from-trunk" in trunk
    assert "endpoint_identifier_order = ip,username" in pjsip["global"]
    extensions = files[EXTENSIONS_FILE]
    assert "exten => 95598,1,Goto(from-pstn,95598,1)" in extensions
    assert "exten => 4008195598,1,Goto(from-pstn,95598,1)" in extensions
    assert extensions.count("exten =>") == 2  # the DIDs and nothing else


def test_rtp_is_bound_to_the_media_address_everywhere() -> None:
    """RTP on 0.0.0.0 makes Asterisk resolve its own name on every call (docs/sip.md)."""
    pjsip = sections(render_sip_config(SITE).files[PJSIP_FILE])
    for name in ("media-address", "trunk-95598"):
        assert "media_address = 10.1.2.3" in pjsip[name]
        assert "bind_rtp_to_media_address = yes" in pjsip[name]


def test_no_trunk_no_endpoint_and_no_placeholder() -> None:
    text = render_sip_config(SipSettings()).files[PJSIP_FILE]
    assert "trunk-95598" not in sections(text) and "192.0.2" not in text


def test_the_sandbox_carrier_is_on_its_own_loopback_address() -> None:
    sip = sandbox_sip(SITE, SandboxSettings())
    assert sip.bind_address == IPv4Address("127.0.0.1")
    assert sip.trunk_sources == [IPv4Network("127.0.0.2/32")]
    assert sip.dids == SITE.dids and sip.dtmf_mode == "info"  # the rest is the site's
    with pytest.raises(ValidationError):
        SandboxSettings(carrier_address=IPv4Address("127.0.0.1"))  # the phones' address
    with pytest.raises(ValidationError):
        SandboxSettings(carrier_address=IPv4Address("10.0.0.1"))  # loopback only


@pytest.mark.parametrize(
    "bad",
    [
        {"dids": ["95598\nexten => _X.,1,Dial(PJSIP/${EXTEN}@trunk-95598)"]},
        {"dids": ["95598;"]},
        {"dids": ["9559[8]"]},
        {"dids": ["12"]},
        {"dids": ["95598", "95598"]},
        {"trunk_sources": ["203.0.113.10\n[evil]"]},
        {"trunk_sources": ["carrier.example.com"]},
        {"trunk_host": "203.0.113.10;transport=tcp"},
        {"codecs": ["alaw,all"]},
        {"dtmf_mode": "inband"},
        {"bind_address": "0.0.0.0"},
        {"bind_port": 0},
        {"typo_key": 1},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SipSettings.model_validate(bad)


@pytest.mark.parametrize("value", ["a\nb", "x;y", "[s]", "a,b", "k=v", "", "x" * 65])
def test_the_renderer_checks_every_value_again(value: str) -> None:
    """Whatever slipped past the settings cannot change the file's meaning."""
    with pytest.raises(RenderError):
        _safe(value, "dids")


def test_render_config_command_writes_both_files(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = tmp_path / "ivr.toml"
    settings.write_text('[sip]\ntrunk_sources = ["203.0.113.10/32"]\ndids = ["95598"]\n')
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    assert main(["--config", str(settings), "asterisk", "render-config", str(tmp_path)]) == 0
    assert "match = 203.0.113.10/32" in (tmp_path / PJSIP_FILE).read_text()
    assert (tmp_path / EXTENSIONS_FILE).stat().st_mode & 0o777 == 0o640
    assert main(["asterisk", "render-config", str(tmp_path / "missing")]) == 1
    assert "not a directory" in capsys.readouterr().err
