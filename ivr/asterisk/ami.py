"""A small AMI client over panoramisk: login with a deadline, actions, event subscriptions.

panoramisk reconnects by itself but reports a failed login only by never calling back; we
turn that into a clear error after a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import Manager
from panoramisk.message import Message

log = logging.getLogger(__name__)

EventCallback = Callable[[Message], Any]


class AmiError(RuntimeError):
    pass


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self._logged_in = asyncio.Event()
        self._manager = Manager(
            host=host,
            port=port,
            username=username,
            secret=secret,
            ping_delay=10,
            ping_interval=10,
            reconnect_timeout=2,
            loop=asyncio.get_running_loop(),
            on_login=lambda _manager: self._logged_in.set(),
            on_disconnect=lambda _manager, _exc: self._logged_in.clear(),
        )

    async def connect(self, timeout_s: float = 10.0) -> None:
        self._manager.connect()
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout_s)
        except TimeoutError:
            self._manager.close()
            raise AmiError(
                f"AMI login to {self._manager.config['host']}:{self._manager.config['port']} "
                f"as {self._manager.config['username']!r} failed or timed out"
            ) from None

    def on_event(self, pattern: str, callback: EventCallback) -> None:
        """Call ``callback(event)`` for every event whose name matches ``pattern`` (fnmatch)."""
        self._manager.register_event(pattern, lambda _manager, event: callback(event))

    async def action(self, action: dict[str, str], timeout_s: float = 10.0) -> Message:
        """Send an action that answers with one message.

        ``as_list=False`` matters: panoramisk guesses from the reply's text whether more
        messages follow, and guesses wrong for QueueAdd ("Added … to queue") and async
        Originate ("successfully queued"), leaving their futures pending for ever.
        """
        response = await asyncio.wait_for(
            self._manager.send_action(dict(action), as_list=False), timeout_s
        )
        if isinstance(response, list):
            response = response[0]
        if response.get("Response") == "Error":
            raise AmiError(f"{action.get('Action')}: {response.get('Message')}")
        return response

    async def queue_add(self, queue: str, interface: str, member_name: str) -> None:
        """Add a member; one already there is fine (logging in twice is not an error)."""
        try:
            await self.action(
                {
                    "Action": "QueueAdd",
                    "Queue": queue,
                    "Interface": interface,
                    "MemberName": member_name,
                    "Paused": "false",
                }
            )
        except AmiError as exc:
            if "Already there" not in str(exc):
                raise

    async def queue_remove(self, queue: str, interface: str) -> None:
        """Remove a member; one already gone is fine."""
        try:
            await self.action({"Action": "QueueRemove", "Queue": queue, "Interface": interface})
        except AmiError as exc:
            if "Not there" not in str(exc):
                raise

    async def close(self) -> None:
        self._manager.close()
