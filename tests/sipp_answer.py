"""SIPp as the phone a 回访 or a dispatch call reaches through the carrier trunk.

Our outbound INVITE goes to the carrier (the sandbox's trunk host, 127.0.0.2:5060); SIPp
listens there, rings, answers with PCMA and telephone-event, presses keys as RFC 4733 events
(sip-tester's pcaps, renumbered as for carrier calls) and waits for our BYE.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from string import Template

from tests.sipp import SIP_DIR, Key, Pause, SippResult, _fragments, key_pcap, run_sipp


def answering_phone(steps: list[Pause | Key], workdir: Path, ring_ms: int = 1000) -> str:
    parts = _fragments()
    body: list[str] = []
    pressed = 0
    for step in steps:
        if isinstance(step, Pause):
            body.append(Template(parts["pause"]).substitute(ms=step.ms))
        else:
            pcap = key_pcap(step.key, pressed, workdir)
            body.append(Template(parts["rfc4733"]).substitute(pcap=pcap))
            pressed += 1
    template = Template((SIP_DIR / "customer_answers.xml").read_text(encoding="utf-8"))
    return template.substitute(ring_ms=ring_ms, steps="\n".join(body))


def start_answering(
    steps: list[Pause | Key], workdir: Path, address: str, port: int, media_port: int
) -> asyncio.Task[SippResult]:
    """SIPp listening on ``address:port`` for one call, in the background."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = answering_phone(steps, workdir)
    return asyncio.create_task(
        run_sipp(scenario, workdir, address, port, media_port=media_port, timeout_s=120)
    )
