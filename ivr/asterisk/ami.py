"""A small AMI client over panoramisk: login with a deadline, actions, event subscriptions.

panoramisk reconnects by itself but reports a failed login only by never calling back; we
turn that into a clear error after a deadline. It retries every ``reconnect_timeout`` seconds
for ever; :class:`_BackoffManager` doubles the wait after each failed attempt (up to
``MAX_RECONNECT_S``) and stops reconnecting once we close on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from panoramisk import Manager
from panoramisk.message import Message

from ivr.asterisk.ami_protocol import BoundedAmiProtocol

log = logging.getLogger(__name__)

EventCallback = Callable[[Message], Any]


MIN_RECONNECT_S = 0.5
MAX_RECONNECT_S = 30.0


class AmiError(RuntimeError):
    pass


class AmiLinkLost(AmiError):
    """The link dropped after the action was sent and before Asterisk answered it: Asterisk
    may or may not have carried it out."""


def _check_framing(action: dict[str, str]) -> None:
    """A header name or value with a line break would end the header and start another (a
    second action, even): panoramisk writes them as given, so we refuse them here, whatever
    the callers already checked."""
    for key, value in action.items():
        if any(c in str(key) + str(value) for c in "\r\n\x00") or ":" in str(key):
            raise ValueError(f"AMI header {str(key)[:20]!r} would break the action's framing")


class _BackoffManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with exponential backoff between reconnect attempts."""

    closing = False
    attempts = 0
    next_reconnect_s: float | None = None  # one-off wait after the next loss (tests)

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if self.closing:
            if not f.cancelled() and f.exception() is None:
                f.result()[0].close()
            return
        failed = f.cancelled() or f.exception() is not None
        if failed:
            self.attempts += 1
            self.reconnect_timeout = min(MAX_RECONNECT_S, MIN_RECONNECT_S * 2**self.attempts)
            log.warning("AMI connect failed; next attempt in %.1f s", self.reconnect_timeout)
        super().connection_made(f)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_unanswered()
        if self.closing:
            self._connected = False
            return
        self.reconnect_timeout = self.next_reconnect_s or MIN_RECONNECT_S
        self.next_reconnect_s = None
        super().connection_lost(exc)

    def _fail_unanswered(self) -> None:
        """panoramisk keeps every action that had no answer when the link dropped and sends it
        again after the next login: an ``Originate`` whose answer was lost would ring the
        customer a second time, a stale ``QueuePause`` would undo a newer one. Instead each
        waiting caller gets ``AmiLinkLost`` now, and decides."""
        while self.awaiting_actions:
            action = self.awaiting_actions.popleft()
            if not action.future.done():
                name = action.get("Action", "?")
                action.future.set_exception(
                    AmiLinkLost(f"{name}: the AMI link dropped before Asterisk answered")
                )

    async def send_awaiting_actions(self, *_: Any) -> None:
        """Never re-send (see ``_fail_unanswered``)."""
        self._fail_unanswered()


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self._logged_in = asyncio.Event()
        self._login_callbacks: list[Callable[[], Any]] = []
        self._disconnect_callbacks: list[Callable[[], Any]] = []
        self.logins = 0
        self.disconnected_at_us: int | None = None  # wall clock when the link last went down
        self._manager = _BackoffManager(
            host=host,
            port=port,
            username=username,
            secret=secret,
            ping_delay=10,
            ping_interval=10,
            reconnect_timeout=2,
            protocol_factory=BoundedAmiProtocol,
            loop=asyncio.get_running_loop(),
            on_login=lambda _manager: self._on_login(),
            on_disconnect=lambda _manager, _exc: self._on_disconnect(),
        )

    def _on_login(self) -> None:
        self._manager.attempts = 0
        self._manager.reconnect_timeout = MIN_RECONNECT_S
        self.logins += 1
        self._logged_in.set()
        for callback in self._login_callbacks:
            callback()

    def _on_disconnect(self) -> None:
        if self._logged_in.is_set():
            self.disconnected_at_us = time.time_ns() // 1000
        self._logged_in.clear()
        for callback in self._disconnect_callbacks:
            callback()

    def on_login(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` after every successful login (the first and each reconnect)."""
        self._login_callbacks.append(callback)

    def on_disconnect(self, callback: Callable[[], Any]) -> None:
        self._disconnect_callbacks.append(callback)

    @property
    def logged_in(self) -> bool:
        return self._logged_in.is_set()

    async def wait_logged_in(self) -> None:
        """Return once the link is logged in (at once if it is)."""
        await self._logged_in.wait()

    def drop_connection(self, reconnect_after_s: float | None = None) -> None:
        """Close the TCP link as a network fault would (tests); panoramisk reconnects, after
        ``reconnect_after_s`` if given (a longer outage)."""
        self._manager.next_reconnect_s = reconnect_after_s
        protocol = getattr(self._manager, "protocol", None)
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()

    async def connect(self, timeout_s: float = 10.0, give_up: bool = True) -> None:
        """Log in within ``timeout_s``. ``give_up=False`` (the bridge) keeps retrying with
        backoff in the background instead of raising: the calls must not wait on AMI."""
        self._manager.connect()
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout_s)
        except TimeoutError:
            where = (
                f"{self._manager.config['host']}:{self._manager.config['port']} "
                f"as {self._manager.config['username']!r}"
            )
            if not give_up:
                log.error("AMI login to %s not done in %.0f s; still trying", where, timeout_s)
                return
            self._manager.closing = True
            self._manager.close()
            raise AmiError(f"AMI login to {where} failed or timed out") from None

    def on_event(self, pattern: str, callback: EventCallback) -> None:
        """Call ``callback(event)`` for every event whose name matches ``pattern`` (fnmatch)."""
        self._manager.register_event(pattern, lambda _manager, event: callback(event))

    async def action(self, action: dict[str, str], timeout_s: float = 10.0) -> Message:
        """Send an action that answers with one message.

        ``as_list=False`` matters: panoramisk guesses from the reply's text whether more
        messages follow, and guesses wrong for QueueAdd ("Added … to queue") and async
        Originate ("successfully queued"), leaving their futures pending for ever.
        """
        _check_framing(action)
        response = await asyncio.wait_for(
            self._manager.send_action(dict(action), as_list=False), timeout_s
        )
        if isinstance(response, list):
            response = response[0]
        if response.get("Response") == "Error":
            raise AmiError(f"{action.get('Action')}: {response.get('Message')}")
        return response

    async def action_list(self, action: dict[str, str], timeout_s: float = 10.0) -> list[Message]:
        """Send a list action (QueueStatus, CoreShowChannels): its events up to ``…Complete``."""
        _check_framing(action)
        response = await asyncio.wait_for(
            self._manager.send_action(dict(action), as_list=True), timeout_s
        )
        messages = response if isinstance(response, list) else [response]
        if messages and messages[0].get("Response") == "Error":
            raise AmiError(f"{action.get('Action')}: {messages[0].get('Message')}")
        return [m for m in messages if m.get("Event")]

    async def queue_add(
        self, queue: str, interface: str, member_name: str, state_interface: str | None = None
    ) -> None:
        """Add a member; one already there is fine (logging in twice is not an error).
        ``state_interface``: the device whose state is the member's (the phone behind a Local
        member), so ringinuse and busy/ringing follow the phone."""
        action = {
            "Action": "QueueAdd",
            "Queue": queue,
            "Interface": interface,
            "MemberName": member_name,
            "Paused": "false",
        }
        if state_interface:
            action["StateInterface"] = state_interface
        try:
            await self.action(action)
        except AmiError as exc:
            if "Already there" not in str(exc):
                raise

    async def set_agent_device(self, job_number: str, device: str | None) -> None:
        """The phone ``[agent-dial]`` rings for this agent: global ``IVR_AGENT_DEVICE_<工号>``
        (AMI ``Setvar``, the ``call`` privilege the bridge has; AstDB would need ``system``
        write, which also allows reloads). It dies with an Asterisk restart, as the queue
        members do. None empties it (logged out: nothing to ring). Callers validate."""
        if not job_number.isdigit():
            raise ValueError("a job number (工号) is digits")
        await self.action(
            {
                "Action": "Setvar",
                "Variable": f"IVR_AGENT_DEVICE_{job_number}",
                "Value": device or "",
            }
        )

    async def queue_remove(self, queue: str, interface: str) -> None:
        """Remove a member; one already gone is fine."""
        try:
            await self.action({"Action": "QueueRemove", "Queue": queue, "Interface": interface})
        except AmiError as exc:
            if "Not there" not in str(exc):
                raise

    async def queue_pause(
        self, queue: str | None, interface: str, paused: bool, reason: str
    ) -> None:
        """Pause or unpause a member (in one queue, or in all when ``queue`` is None)."""
        action = {
            "Action": "QueuePause",
            "Interface": interface,
            "Paused": "true" if paused else "false",
            "Reason": reason[:64],
        }
        if queue:
            action["Queue"] = queue
        await self.action(action)

    async def close(self) -> None:
        self._manager.closing = True
        self._manager.close()
