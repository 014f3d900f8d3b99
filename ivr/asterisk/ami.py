"""A small AMI client over panoramisk: login, actions, event subscriptions, a watched link.

panoramisk reconnects by itself, but it reports a refused login only by never calling back,
retries every ``reconnect_timeout`` seconds for ever, and pings without waiting for the answer,
so a link whose peer went silent without closing it (a half-open TCP connection: a firewall
dropped the state, the host froze) looks alive for ever. :class:`_WatchedManager` adds:

* an awaited ``Ping`` every ``ping_interval_s``: no answer within ``ping_timeout_s`` and the link
  is aborted and reconnected (then the tracker resyncs, as after any reconnect);
* a refused login logged as what it is, naming the AMI user (never the secret), then backed off;
* exponential backoff (``MIN_RECONNECT_S`` doubling to ``reconnect_max_s``) after every attempt
  that did not end logged in; a link that was logged in reconnects at once;
* no reconnect once we close on purpose, and no re-sending of unanswered actions.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from panoramisk import Manager
from panoramisk.message import Message
from tenacity import AsyncRetrying, RetryCallState, wait_exponential, wait_random

from ivr.asterisk.ami_protocol import BoundedAmiProtocol

log = logging.getLogger(__name__)

EventCallback = Callable[[Message], Any]


MIN_RECONNECT_S = 0.5
MAX_RECONNECT_S = 30.0
PING_INTERVAL_S = 10.0
PING_TIMEOUT_S = 10.0


def reconnect_wait(
    failures: int, max_s: float = MAX_RECONNECT_S, first_s: float = MIN_RECONNECT_S
) -> float:
    """The wait after ``failures`` failed attempts in a row: ``first_s * 2**failures`` (at most
    ``max_s``) plus up to ``first_s`` of jitter, so bridges that lost the same Asterisk do not
    all knock at once. We (or panoramisk) do the waiting; tenacity's wait strategy says how
    long."""
    wait = wait_exponential(multiplier=first_s, max=max_s) + wait_random(0, first_s)
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = failures + 1
    return float(wait(state))


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


MAX_EVENT_NAMES = 1024  # distinct event names whose matching patterns are kept


class _WatchedManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with an awaited ping, plain login failures and backoff."""

    closing = False
    attempts = 0  # attempts in a row that did not end logged in
    next_reconnect_s: float | None = None  # one-off wait after the next loss (tests)
    max_reconnect_s = MAX_RECONNECT_S
    ping_timeout_s = PING_TIMEOUT_S
    refusals = 0  # logins Asterisk refused (wrong user or secret), in all
    silent_drops = 0  # links dropped because a Ping went unanswered, in all
    last_refusal: str | None = None  # what the last refused login was told, for health
    _ping_task: asyncio.Task[None] | None = None
    _wait_after_loss: float | None = None  # set by a refused login: its backoff, logged there

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._matches: dict[str, list[str]] = {}  # event name → the patterns it matches
        self._matches_for = -1  # how many patterns were registered when it was filled
        self._callback_tasks: set[asyncio.Future[Any]] = set()  # held until done

    @property
    def where(self) -> str:
        return f"{self.config['host']}:{self.config['port']}"

    def dispatch(self, event: Any) -> list[str]:
        """panoramisk's dispatch without a regular expression per registered pattern for every
        event (the tracker registers ~20 names, each tried against every event: a quarter of
        the ingest's time): which patterns an event name matches is worked out once per name
        and kept until a pattern is added. Same callbacks, same order, same result."""
        if self._matches_for != len(self.patterns):
            self._matches, self._matches_for = {}, len(self.patterns)
        name = event.event
        matches = self._matches.get(name)
        if matches is None:
            matches = [pattern for pattern, regexp in self.patterns if regexp.match(name)]
            if len(self._matches) < MAX_EVENT_NAMES:  # names come from Asterisk: bounded
                self._matches[name] = matches
        event.manager = self
        for pattern in matches:
            for callback in self.callbacks[pattern]:
                ret = callback(self, event)
                if asyncio.iscoroutine(ret) or isinstance(ret, asyncio.Future):
                    task = asyncio.ensure_future(ret, loop=self.loop)
                    self._callback_tasks.add(task)  # the loop keeps only weak references
                    task.add_done_callback(self._callback_tasks.discard)
        return matches

    def _backoff(self) -> float:
        self.attempts += 1
        self.reconnect_timeout = reconnect_wait(self.attempts, self.max_reconnect_s)
        return float(self.reconnect_timeout)

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if self.closing:
            if not f.cancelled() and f.exception() is None:
                f.result()[0].close()
            return
        if f.cancelled() or f.exception() is not None:
            reason = "cancelled" if f.cancelled() else _oserror(f.exception())
            log.warning(
                "AMI connect to %s failed (%s); next attempt in %.1f s",
                self.where,
                reason,
                self._backoff(),
            )
            self.loop.call_later(self.reconnect_timeout, self.connect)
            return
        super().connection_made(f)

    def login(self, future: asyncio.Future[Any]) -> bool:
        if future.cancelled() or future.exception() is not None:
            return False  # the link went first; connection_lost reconnects
        response = future.result()
        if not response.success:
            self.refusals += 1
            said = str(response.get("Message") or "no reason given")[:80]
            self.last_refusal = said
            log.error(
                "AMI authentication failed for user %r on %s (Asterisk: %s): check "
                "ami.username and the secret (IVR_AMI__SECRET or ami.secret_file) against "
                "Asterisk's manager.conf; next attempt in %.1f s",
                self.config["username"],
                self.where,
                said,
                self._backoff(),
            )
            self._wait_after_loss = self.reconnect_timeout
            self.authenticated = False
            if self.protocol is not None and self.protocol.transport is not None:
                self.protocol.transport.close()  # Asterisk closes it too; we do not wait
            return False
        self.last_refusal = None
        return bool(super().login(future))

    def ping(self) -> None:
        """Every ``ping_interval``: one Ping at a time, its answer awaited (see module doc)."""
        self.pinger = self.loop.call_later(self.ping_interval, self.ping)
        if self._ping_task is None or self._ping_task.done():
            self._ping_task = self.loop.create_task(self._ping(self.protocol), name="ami-ping")

    async def _ping(self, protocol: Any) -> None:
        if protocol is None or protocol.closed:
            return
        try:
            await asyncio.wait_for(protocol.send({"Action": "Ping"}), self.ping_timeout_s)
        except TimeoutError:
            if protocol is not self.protocol or protocol.closed or self.closing:
                return
            self.silent_drops += 1
            log.error(
                "AMI link to %s silent: no answer to Ping in %.0f s; dropping it and reconnecting",
                self.where,
                self.ping_timeout_s,
            )
            protocol.transport.abort()  # no FIN to wait for: connection_lost follows at once
        except Exception:  # the link closed under the Ping: connection_lost handles it
            return

    def connection_lost(self, exc: Exception | None) -> None:
        """Replaces panoramisk's (which logs "Connection lost" at ERROR and reconnects after a
        fixed wait): one line saying what happens, then a reconnect with backoff."""
        self._fail_unanswered()
        if self.pinger is not None:
            self.pinger.cancel()
            self.pinger = None
        if self._ping_task is not None:
            self._ping_task.cancel()
        was_up, self.authenticated = self.authenticated, False
        self._connected = False
        if self.closing:
            return
        self.loop.call_soon(self.on_disconnect, self, exc)
        if was_up:
            wait = self.next_reconnect_s or MIN_RECONNECT_S
            log.warning("AMI link to %s lost; reconnecting in %.1f s", self.where, wait)
        elif self._wait_after_loss is not None:
            wait = self._wait_after_loss  # logged with the refusal
        else:
            wait = self._backoff()
            log.warning(
                "AMI link to %s closed before login; next attempt in %.1f s", self.where, wait
            )
        self.next_reconnect_s = self._wait_after_loss = None
        self.loop.call_later(wait, self.connect)

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


def _oserror(exc: BaseException | None) -> str:
    """A connect error in a few words (``[Errno 111] Connect call failed ('127.0.0.1', 5038)``
    says the address twice)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


class AmiClient:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        ping_interval_s: float = PING_INTERVAL_S,
        ping_timeout_s: float = PING_TIMEOUT_S,
        reconnect_max_s: float = MAX_RECONNECT_S,
    ) -> None:
        self._logged_in = asyncio.Event()
        self._login_callbacks: list[Callable[[], Any]] = []
        self._disconnect_callbacks: list[Callable[[], Any]] = []
        self.logins = 0
        self.disconnected_at_us: int | None = None  # wall clock when the link last went down
        self._manager = _WatchedManager(
            host=host,
            port=port,
            username=username,
            secret=secret,
            reconnect_timeout=MIN_RECONNECT_S,
            protocol_factory=BoundedAmiProtocol,
            loop=asyncio.get_running_loop(),
            on_login=lambda _manager: self._on_login(),
            on_disconnect=lambda _manager, _exc: self._on_disconnect(),
        )
        # panoramisk reads these as whole seconds; the watch wants them as given
        self._manager.ping_delay = self._manager.ping_interval = ping_interval_s
        self._manager.ping_timeout_s = ping_timeout_s
        self._manager.max_reconnect_s = reconnect_max_s

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

    @property
    def refused(self) -> bool:
        """The last login attempt was refused (wrong user or secret) and none succeeded since."""
        return self._manager.last_refusal is not None

    @property
    def silent_drops(self) -> int:
        """Links dropped because Asterisk did not answer a Ping in time."""
        return int(self._manager.silent_drops)

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

    def start(self) -> None:
        """Connect and log in in the background, retrying with backoff for as long as it
        takes (the bridge: calls and the web must not wait on AMI; ``logged_in`` and the
        login callbacks say when it is up)."""
        self._manager.connect()

    async def connect(self, timeout_s: float = 10.0) -> None:
        """Log in within ``timeout_s`` or raise :class:`AmiError` (commands and tests)."""
        self._manager.connect()
        try:
            await asyncio.wait_for(self._logged_in.wait(), timeout_s)
        except TimeoutError:
            config = self._manager.config
            refused = " (authentication failed)" if self.refused else ""
            self._manager.closing = True
            self._manager.close()
            raise AmiError(
                f"AMI login to {self._manager.where} as {config['username']!r} failed or "
                f"timed out{refused}"
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

    async def channel_of(self, unique_id: str) -> str | None:
        """The name of the live channel with this ``Uniqueid`` (``CoreShowChannels``), or None
        when it is gone: what ``Redirect`` needs, which takes names, not ids."""
        for event in await self.action_list({"Action": "CoreShowChannels"}, timeout_s=15):
            if event.get("Event") == "CoreShowChannel" and event.get("Uniqueid") == unique_id:
                return str(event.get("Channel") or "") or None
        return None

    async def get_variable(self, channel: str, name: str) -> str | None:
        """A channel variable (``Getvar``); None when unset or the channel is gone."""
        try:
            reply = await self.action({"Action": "Getvar", "Channel": channel, "Variable": name})
        except AmiError:
            return None
        value = str(reply.get("Value") or "")
        return value or None

    async def redirect(self, channel: str, context: str, exten: str) -> None:
        """Send a live channel to ``context``/``exten``/1 (a blind transfer: it leaves its bridge
        and the other party's leg ends). Callers validate context and extension."""
        await self.action(
            {
                "Action": "Redirect",
                "Channel": channel,
                "Context": context,
                "Exten": exten,
                "Priority": "1",
            }
        )

    async def originate_monitor(
        self, device: str, context: str, exten: str, variables: dict[str, str]
    ) -> None:
        """Ring a supervisor's phone (``PJSIP/<seat>``, or the Local channel whose other half
        beeps to the agent) into ``context``/``exten`` with these
        channel variables (async: the answer is the phone's business). Callers validate the
        values; a value with a comma or line break is refused here as well."""
        if not re.fullmatch(r"PJSIP/[A-Za-z0-9]{1,32}|Local/beep@ivr-monitor-tell", device):
            raise ValueError("a monitor phone is PJSIP/<seat> (or the tell channel)")
        pairs = []
        for name, value in variables.items():
            if not re.fullmatch(r"[A-Z_]{1,32}", name) or re.search(r"[,\r\n|]", value):
                raise ValueError("a plain channel variable")
            pairs.append(f"{name}={value}")
        await self.action(
            {
                "Action": "Originate",
                "Channel": device,
                "Context": context,
                "Exten": exten,
                "Priority": "1",
                "CallerID": f'"{exten}" <{exten}>',
                "Variable": ",".join(pairs),
                "Timeout": "30000",
                "Async": "true",
            }
        )

    async def close(self) -> None:
        self._manager.closing = True
        self._manager.close()
        if self._manager._ping_task is not None:
            self._manager._ping_task.cancel()
