"""SIPp (Debian's sip-tester) as the carrier and as a rogue phone: scenarios and a runner.

The scenario files live in tests/sip/. A carrier call is ``carrier_call.xml`` with the caller's
steps (pauses, RTP audio, RFC 4733 keys from the pcaps sip-tester ships, SIP INFO keys) put in
from ``fragments.xml``; the other scenarios are used as they are. Everything is on loopback:
Asterisk's transport is 127.0.0.1:5060, the carrier is the sandbox's carrier address
(127.0.0.2), a stranger is 127.0.0.3.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from string import Template

SIP_DIR = Path(__file__).with_name("sip")
ASTERISK = "127.0.0.1:5060"
CARRIER_IP = "127.0.0.2"
STRANGER_IP = "127.0.0.3"
PCAP_DIR = Path("/usr/share/sip-tester")
PCAP_NAMES = {"*": "star", "#": "pound", **{d: d for d in "0123456789"}}


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def _fragments() -> dict[str, str]:
    text = (SIP_DIR / "fragments.xml").read_text(encoding="utf-8")
    return dict(re.findall(r'<fragment name="(\w+)">(.*?)</fragment>', text, re.S))


@dataclass(frozen=True)
class Pause:
    ms: int


@dataclass(frozen=True)
class Audio:
    """Seven seconds of speech as G.711 A-law RTP (g711a.pcap), sent in the background."""


@dataclass(frozen=True)
class Key:
    """One key: RFC 4733 telephone-events in RTP (default) or a SIP INFO request."""

    key: str
    via: str = "rfc4733"


@dataclass(frozen=True)
class Refer:
    """A REFER (blind transfer) of the call to ``target``; Asterisk must answer ``code``."""

    target: str
    code: int


Step = Pause | Audio | Key | Refer


def key_pcap(key: str, index: int, workdir: Path) -> Path:
    """sip-tester's ``dtmf_2833_<key>.pcap``, renumbered as the ``index``-th key of a call.

    The shipped pcaps are slices of one recorded stream: one SSRC, and sequence numbers and
    timestamps that rise from 1 to 9, then * and #, with 0 last. Played as they are, the same key
    twice repeats an event Asterisk has already ended (same timestamp: ignored) and a lower key
    after a higher one goes back in sequence (dropped as a replay). Each key of a call therefore
    gets its own copy with sequence numbers and timestamps after the previous key's; the
    events, durations and packet timing are the shipped ones.
    """
    data = bytearray((PCAP_DIR / f"dtmf_2833_{PCAP_NAMES[key]}.pcap").read_bytes())
    offset, packet = 24, 0
    while offset < len(data):
        captured = struct.unpack_from("<I", data, offset + 8)[0]
        frame = offset + 16
        ip_header = (data[frame + 14] & 0x0F) * 4
        udp = frame + 14 + ip_header
        struct.pack_into(">H", data, udp + 6, 0)  # UDP checksum: none (IPv4 allows it)
        rtp = udp + 8
        struct.pack_into(">H", data, rtp + 2, 1000 + 100 * index + packet)
        struct.pack_into(">I", data, rtp + 4, 160_000 * (index + 1))
        offset, packet = frame + captured, packet + 1
    path = workdir / f"key-{index}-{PCAP_NAMES[key]}.pcap"
    path.write_bytes(bytes(data))
    return path


def carrier_call(
    steps: list[Step],
    caller_hangs_up: bool,
    workdir: Path,
    did: str = "95598",
    from_user: str = "anonymous",
    pai: str | None = None,
) -> str:
    """The scenario XML of one carrier call (its key pcaps are written to ``workdir``)."""
    parts = _fragments()
    cseq = 1
    pressed = 0
    body: list[str] = []
    common = {"did": did, "from_user": from_user}
    for step in steps:
        if isinstance(step, Pause):
            body.append(Template(parts["pause"]).substitute(ms=step.ms))
        elif isinstance(step, Audio):
            body.append(parts["audio"])
        elif isinstance(step, Refer):
            cseq += 1
            body.append(
                Template(parts["refer"]).substitute(
                    common, target=step.target, code=step.code, cseq=cseq
                )
            )
        elif step.via == "info":
            cseq += 1
            body.append(Template(parts["info"]).substitute(common, key=step.key, cseq=cseq))
        else:
            pcap = key_pcap(step.key, pressed, workdir)
            body.append(Template(parts["rfc4733"]).substitute(pcap=pcap))
            pressed += 1
    cseq += 1
    ending = "caller_hangs_up" if caller_hangs_up else "far_end_hangs_up"
    template = Template((SIP_DIR / "carrier_call.xml").read_text(encoding="utf-8"))
    return template.substitute(
        common,
        pai_header=f"\n      P-Asserted-Identity: <sip:{pai}@{CARRIER_IP}>" if pai else "",
        steps="\n".join(body),
        ending=Template(parts[ending]).substitute(common, cseq=cseq),
    )


@dataclass(frozen=True)
class SippResult:
    returncode: int
    output: str
    errors: str  # SIPp's -trace_err file: unexpected messages, with the message itself
    messages: str  # SIPp's -trace_msg file: every message sent and received

    @property
    def ok(self) -> bool:
        return self.returncode == 0


async def run_sipp(
    scenario: str | Path,
    workdir: Path,
    local_ip: str,
    port: int,
    media_port: int | None = None,
    extra: list[str] | None = None,
    timeout_s: float = 240.0,
) -> SippResult:
    """Run one SIPp call (``-m 1``) to Asterisk's transport; its exit code and error trace.

    ``scenario`` is XML text or a file in tests/sip/. SIPp exits 0 when every call followed
    the scenario, 1 when one failed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    for old in (f"err-{port}.log", f"msg-{port}.log"):
        (workdir / old).unlink(missing_ok=True)
    if isinstance(scenario, Path):
        path = scenario
    else:
        path = workdir / f"call-{port}.xml"
        path.write_text(scenario, encoding="utf-8")
    argv = [
        "sipp", ASTERISK, "-sf", str(path), "-i", local_ip, "-p", str(port), "-m", "1",
        "-l", "1", "-nostdin", "-trace_err", "-error_file", str(workdir / f"err-{port}.log"),
        "-trace_msg", "-message_file", str(workdir / f"msg-{port}.log"),
        "-recv_timeout", str(int(timeout_s * 1000)), "-timeout", f"{int(timeout_s) + 10}s",
        "-timeout_error", "-max_recv_loops", "1000",
    ]  # fmt: skip
    if media_port is not None:
        argv += ["-mi", local_ip, "-mp", str(media_port)]
    argv += extra or []
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s + 30)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()

    def read(name: str) -> str:
        path = workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    output = out.decode(errors="replace")[-4000:]
    errors = read(f"err-{port}.log")[-4000:]
    return SippResult(proc.returncode or 0, output, errors, read(f"msg-{port}.log"))


def refused_invite(number: str, code: int, from_user: str = "13800138000") -> str:
    """An INVITE to ``number`` that Asterisk must answer with the final response ``code``."""
    template = Template((SIP_DIR / "refused_invite.xml").read_text(encoding="utf-8"))
    return template.substitute(number=number, from_user=from_user, code=code)


def phone_call(
    number: str,
    refused_with: int | None = None,
    hold_ms: int = 2000,
    transfer_to: str | None = None,
) -> str:
    """The scenario XML of a phone's call to ``number``: answered and hung up after
    ``hold_ms``; answered, then a REFER to ``transfer_to`` (its result is in the NOTIFYs:
    :attr:`SippResult.messages`); or refused with ``refused_with`` after the digest challenge.
    """
    text = (SIP_DIR / "phone_outcomes.xml").read_text(encoding="utf-8")
    outcomes = dict(re.findall(r'<outcome name="(\w+)">(.*?)</outcome>', text, re.S))
    if transfer_to is not None:
        outcome = Template(outcomes["transfer"]).substitute(number=number, target=transfer_to)
    elif refused_with is None:
        outcome = Template(outcomes["answered"]).substitute(number=number, hold_ms=hold_ms)
    else:
        outcome = Template(outcomes["refused"]).substitute(number=number, code=refused_with)
    template = Template((SIP_DIR / "phone_invite.xml").read_text(encoding="utf-8"))
    return template.substitute(number=number, outcome=outcome)
