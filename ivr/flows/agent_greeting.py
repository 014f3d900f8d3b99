"""The standard opening, 您好，{工号}号为您服务, played the moment an agent answers.

It runs on the agent's leg (dialplan ``[ivr-agent-answered]``): audio written there goes to
the caller. For agents on desk phones that leg is ``[agent-dial]``'s, after the phone answered
and before it is bridged to the caller. An agent we do not know, or any failure, means no
greeting (the agent says it themselves); it never holds up or drops the call.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ivr.domain.agents import greeting_text
from ivr.domain.calls import CallerHungUp, ChannelError
from ivr.ports import AgentDirectory, Channel, PromptLibrary

log = logging.getLogger(__name__)

_INTERFACE = re.compile(r"^[A-Za-z]+/[\w.@/-]{1,120}$")


@dataclass(frozen=True, slots=True)
class GreetingDeps:
    agents: AgentDirectory
    prompts: PromptLibrary


async def run(channel: Channel, interface: str, deps: GreetingDeps) -> str | None:
    """Play the greeting; returns the job number greeted, or ``None``."""
    if not _INTERFACE.match(interface):
        log.warning("agent greeting for a malformed member interface: skipped")
        return None
    try:
        agent = await deps.agents.by_interface(interface)
    except Exception:
        log.exception("agent directory unavailable: no greeting")
        return None
    if agent is None:
        log.info("no job number for member %s: no greeting", interface)
        return None
    try:
        prompt = await deps.prompts.prompt_path(greeting_text(agent.job_number))
        await channel.play(prompt)
    except (CallerHungUp, ChannelError) as exc:
        log.info("greeting for agent %s cut short: %s", agent.job_number, type(exc).__name__)
    except Exception:
        log.exception("greeting for agent %s failed", agent.job_number)
        return None
    return agent.job_number
