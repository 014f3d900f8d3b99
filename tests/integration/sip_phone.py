"""baresip (Debian's, not ours) as an agent's desk phone, headless, on loopback only.

The phone gets its own config directory (``baresip -f DIR``): one account with the seat's
generated credentials, SIP and RTP ports of its own on 127.0.0.1, audio from a file of
silence (``aufile``), no sound card (``aubridge`` as player), and ``sndfile`` dumping what it
hears (``*-dec.wav``) and sends. It is driven over ``ctrl_tcp`` (netstring JSON): the fixture
reads its events (REGISTER_OK, CALL_INCOMING, …) and answers an incoming call after a set
delay with ``/accept``, the way an agent picks up after a few rings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODULES = "/usr/lib/baresip/modules"
ASTERISK_SIP = "127.0.0.1:5060"


@dataclass
class PhoneEvent:
    type: str
    at: float  # time.monotonic() when the fixture read it
    body: dict[str, Any] = field(default_factory=dict)


def _silence(path: Path, seconds: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000 * seconds)


class BaresipPhone:
    """One registered phone; ``answer_after_s`` None: it only rings."""

    def __init__(
        self,
        directory: Path,
        user: str,
        secret: str,
        sip_port: int,
        answer_after_s: float | None = None,
        realm_host: str = ASTERISK_SIP,
        source: Path | None = None,
    ) -> None:
        self.dir = Path(directory)
        self.user, self._secret = user, secret
        self.sip_port = sip_port
        self.ctrl_port = sip_port + 2  # baresip listens for SIP over TLS on sip_port + 1
        self.answer_after_s = answer_after_s
        self.source = source  # what the phone sends (8 kHz mono WAV); None: 120 s of silence
        self.server = realm_host
        self.events: list[PhoneEvent] = []
        self.answered_at: float | None = None
        self._new_event = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def recordings(self) -> Path:
        return self.dir / "rec"

    def _write_config(self) -> None:
        self.recordings.mkdir(parents=True, exist_ok=True)
        _silence(self.dir / "silence.wav", 120)
        rtp = 30000 + (self.sip_port % 100) * 20  # 20 ports of its own, above Asterisk's range
        config = [
            f"module_path {MODULES}",
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{self.sip_port}",
            "net_interface 127.0.0.1",
            f"rtp_ports {rtp}-{rtp + 19}",
            "call_local_timeout 120",
            "call_max_calls 2",
            f"audio_source aufile,{self.source or self.dir / 'silence.wav'}",
            "audio_player aubridge,nowhere",
            "audio_alert aubridge,nowhere",
            "module_tmp account.so",
            "module g711.so",
            "module aufile.so",
            "module aubridge.so",
            "module sndfile.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"snd_path {self.recordings}",
        ]
        (self.dir / "config").write_text("\n".join(config) + "\n")
        # no account at start: it is created over ctrl_tcp once we listen, so the fixture sees
        # its REGISTER_OK / REGISTER_FAIL (events before the connection are not kept)
        (self.dir / "accounts").write_text("")

    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        log = open(self.dir / "baresip.log", "wb")  # noqa: SIM115 (the process keeps it)
        self._proc = await asyncio.create_subprocess_exec(
            "baresip", "-f", str(self.dir), stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                if time.monotonic() > deadline or self._proc.returncode is not None:
                    raise AssertionError(f"baresip did not start: {self.log_tail()}") from None
                await asyncio.sleep(0.1)
        self._tasks.append(asyncio.create_task(self._read(reader)))
        account = (
            f"<sip:{self.user}@{self.server};transport=udp>;auth_pass={self._secret}"
            ";answermode=manual;regint=600;audio_codecs=pcmu,pcma"
        )
        await self.command("uanew", account)

    def log_tail(self) -> str:
        path = self.dir / "baresip.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                length = int((await reader.readuntil(b":"))[:-1])
                body = json.loads((await reader.readexactly(length + 1))[:-1])
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                return
            if not body.get("event"):
                continue
            event = PhoneEvent(str(body.get("type")), time.monotonic(), body)
            self.events.append(event)
            self._new_event.set()
            if event.type == "CALL_INCOMING" and self.answer_after_s is not None:
                self._tasks.append(asyncio.create_task(self._answer(self.answer_after_s)))

    async def _answer(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self.answered_at = time.monotonic()
        await self.command("accept")

    async def command(self, name: str, params: str = "") -> None:
        assert self._writer is not None
        data = json.dumps({"command": name, "params": params, "token": name}).encode()
        self._writer.write(str(len(data)).encode() + b":" + data + b",")
        await self._writer.drain()

    async def wait_for(self, *types: str, timeout_s: float = 10) -> PhoneEvent:
        """The first event (seen so far or to come) of one of these types."""
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events:
                if event.type in types:
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [e.type for e in self.events]
                raise AssertionError(f"no {types} from baresip in {timeout_s} s (saw {seen})")
            self._new_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_event.wait(), remaining)

    def heard(self) -> Path:
        """The WAV of what the phone received in its (last) call."""
        found = sorted(self.recordings.glob("*-dec.wav"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise AssertionError(f"baresip recorded nothing in {self.recordings}")
        return found[-1]

    async def stop(self) -> None:
        """Quit cleanly (calls hung up, recordings closed), else terminate."""
        if self._proc is None:
            return
        if self._proc.returncode is None:
            with contextlib.suppress(Exception):
                await self.command("quit")
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.terminate()
                await self._proc.wait()
        if self._writer is not None:
            self._writer.close()
        for task in self._tasks:
            task.cancel()
        self._proc = None


@contextlib.asynccontextmanager
async def baresip_phone(*args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
    phone = BaresipPhone(*args, **kwargs)
    try:
        await phone.start()
        yield phone
    finally:
        await phone.stop()
