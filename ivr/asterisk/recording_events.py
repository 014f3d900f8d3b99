"""Recording over AMI: the directory Asterisk records into, and the dialplan's reports.

After every AMI login the bridge sets the global ``IVR_RECORDING_DIR`` (``Setvar`` without a
channel: the ``call`` privilege the bridge already has), so ``[ivr-record]`` writes where the
settings say, and an Asterisk restart is covered by the next login. ``[ivr-record]`` and
``[ivr-record-ended]`` report with ``UserEvent: IvrRecording`` / ``IvrRecordingEnded``; the
file names in the event are only compared with the ones the bridge expects, never used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from ivr.asterisk.ami import AmiClient
from ivr.services.recordings import RecordingService

log = logging.getLogger(__name__)

RECORDING_DIR_VARIABLE = "IVR_RECORDING_DIR"


async def set_recording_dir(ami: AmiClient, directory: Path | None) -> None:
    """Point ``[ivr-record]`` at ``directory``; ``None`` (recording off): empty, so the
    dialplan records nothing."""
    value = "" if directory is None else str(directory)
    if any(c in value for c in ",;\r\n|()$") or len(value) > 200:
        raise ValueError("recording.dir: a plain path of at most 200 characters")
    await ami.action({"Action": "Setvar", "Variable": RECORDING_DIR_VARIABLE, "Value": value})


def watch_recordings(
    ami: AmiClient, service: RecordingService | None, directory: Path | None
) -> None:
    """Set the directory at each login and hand the dialplan's reports to ``service``."""
    pending: set[asyncio.Task[None]] = set()

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def logged_in() -> None:
        try:
            await set_recording_dir(ami, directory)
        except Exception:
            log.exception("could not set %s: calls are not recorded", RECORDING_DIR_VARIABLE)

    async def user_event(event: Any) -> None:
        if service is None:
            return
        name = str(event.get("UserEvent", ""))
        call_id = str(event.get("CallId", ""))
        try:
            if name == "IvrRecording":
                await service.started(
                    call_id,
                    str(event.get("Channel", "")),
                    str(event.get("Status", "")),
                    str(event.get("AgentFile", "")),
                    str(event.get("CustomerFile", "")),
                )
            elif name == "IvrRecordingEnded":
                await service.ended(call_id)
        except Exception:
            log.exception("could not record the recording event %s", name)

    ami.on_login(lambda: spawn(logged_in()))
    ami.on_event("UserEvent", lambda event: spawn(user_event(event)))
