"""The sandboxed Asterisk and the shipped configuration, tested against a real Asterisk.

The sandbox is brought ``up()`` once for the session and left running for the next user.
Under ``CI=true`` a sandbox that cannot start fails these tests; elsewhere they are skipped.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
import uuid
from collections.abc import Callable

import pytest

from ivr.config import Settings
from ivr_sandbox.asterisk import AmiEndpoint, AsteriskSandbox

pytestmark = pytest.mark.integration

QUEUES = ("q-repair", "q-billing", "q-business", "q-complaint", "q-general")
# a FastAGI address nobody listens on: the "bridge is down" case, whatever runs on 4573
DEAD_AGI = "agi://127.0.0.1:9"

Message = dict[str, str]


@pytest.fixture(scope="session")
def asterisk_sandbox(sandbox: AmiEndpoint) -> AsteriskSandbox:
    """The sandbox, up and held for this session (fails under CI=true if it cannot start)."""
    return AsteriskSandbox.from_settings(Settings())


class Ami:
    """A small blocking AMI client: enough to send actions and wait for events, bounded."""

    def __init__(self, endpoint: AmiEndpoint, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
        self.buf = b""
        self.seen: list[Message] = []  # every event received so far, in order
        banner = self._line(time.monotonic() + timeout)
        assert banner.startswith("Asterisk Call Manager"), banner
        reply = self.action("Login", Username=endpoint.username, Secret=endpoint.secret)
        assert reply.get("Response") == "Success", reply

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("Logoff")
        self.sock.close()

    def __enter__(self) -> Ami:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self, deadline: float) -> str:
        while b"\r\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("AMI: nothing within the deadline")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError as exc:
                raise TimeoutError("AMI: nothing within the deadline") from exc
            if not chunk:
                raise ConnectionError("AMI connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def _message(self, deadline: float) -> Message:
        msg: Message = {}
        while True:
            line = self._line(deadline)
            if line == "":
                if msg:
                    return msg
                continue
            key, _, value = line.partition(":")
            msg.setdefault(key.strip(), value.strip())  # first of repeated keys

    def send(self, action: str, variables: dict[str, str] | None = None, **headers: str) -> str:
        action_id = uuid.uuid4().hex
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"Variable: {k}={v}" for k, v in (variables or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return action_id

    def action(
        self,
        action: str,
        variables: dict[str, str] | None = None,
        timeout: float = 5.0,
        **headers: str,
    ) -> Message:
        """Send an action and return its response (events read meanwhile are kept)."""
        action_id = self.send(action, variables, **headers)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._message(deadline)
            if "Response" in msg and msg.get("ActionID") == action_id:
                return msg
            if "Event" in msg:
                self.seen.append(msg)

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 15.0) -> Message:
        """The first event (already seen or arriving within ``timeout``) matching predicate."""
        for msg in self.seen:
            if predicate(msg):
                return msg
        deadline = time.monotonic() + timeout
        while True:
            msg = self._message(deadline)
            if "Event" in msg:
                self.seen.append(msg)
                if predicate(msg):
                    return msg

    def collect(self, seconds: float) -> list[Message]:
        """Read events for ``seconds``; everything seen so far."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                msg = self._message(deadline)
                if "Event" in msg:
                    self.seen.append(msg)
        except TimeoutError:
            pass
        return self.seen


def event(name: str, **fields: str) -> Callable[[Message], bool]:
    return lambda m: m.get("Event") == name and all(m.get(k) == v for k, v in fields.items())


# ------------------------------------------------------------------------- configuration


def test_every_module_in_modules_conf_is_loaded(asterisk_sandbox: AsteriskSandbox) -> None:
    wanted = asterisk_sandbox.wanted_modules()
    assert len(wanted) > 40
    not_running = []
    for module in wanted:
        shown = asterisk_sandbox.rx(f"module show like {module}")
        line = next((ln for ln in shown.splitlines() if ln.startswith(f"{module}.so ")), "")
        if not re.search(r"\sRunning\s", line) or "Not Running" in line:
            not_running.append(f"{module}: {line.strip() or 'not loaded'}")
    assert not not_running, not_running


def test_no_module_beyond_modules_conf_and_the_core(asterisk_sandbox: AsteriskSandbox) -> None:
    """autoload = no really holds: nothing loads that we did not list (core parts aside)."""
    extra = asterisk_sandbox.running_modules() - set(asterisk_sandbox.wanted_modules())
    core = {"acl", "ccss", "cdr", "cel", "dnsmgr", "dsp", "enum", "extconfig", "features"}
    core |= {"http", "indications", "logger", "manager", "plc", "sounds", "udptl"}
    assert extra <= core, extra - core


def test_dialplan_contexts_and_the_agi_contract(asterisk_sandbox: AsteriskSandbox) -> None:
    for context in (
        "from-pstn",
        "ivr-call-ended",
        "agent-phones",
        "outbound-trunk",
        "dispatch-out",
        "sim-caller",
        "sim-agents",
        "sim-crews",
    ):
        shown = asterisk_sandbox.rx(f"dialplan show {context}")
        assert f"Context '{context}'" in shown, shown
    inbound = asterisk_sandbox.rx("dialplan show 95598@from-pstn")
    assert "AGI(${IVR_AGI_URL}/inbound)" in inbound, inbound
    assert "Queue(${IVR_QUEUE},,,,${IVR_QUEUE_TIMEOUT}," in inbound, inbound  # then ivr-record
    dispatch = asterisk_sandbox.rx("dialplan show s@dispatch-out")
    assert "AGI(${IVR_AGI_URL}/dispatch,${IVR_DISPATCH_CALL},${IVR_LEG_KEY})" in dispatch, dispatch
    ended = asterisk_sandbox.rx("dialplan show s@ivr-call-ended")
    assert "${IVR_CALL_ID},${QUEUESTATUS},${MEMBERINTERFACE}" in ended, ended
    globals_ = asterisk_sandbox.rx("dialplan show globals")
    assert "IVR_AGI_URL=agi://127.0.0.1:4573" in globals_, globals_
    assert "IVR_FALLBACK_QUEUE=q-general" in globals_, globals_


def test_outbound_trunk_has_only_phone_number_patterns(asterisk_sandbox: AsteriskSandbox) -> None:
    shown = asterisk_sandbox.rx("dialplan show outbound-trunk")
    patterns = set(re.findall(r"^\s*'([^']+)' =>", shown, re.M))
    assert patterns == {"_1XXXXXXXXXX", "_0XXXXXXXXX."}, shown


def test_outbound_trunk_refuses_malformed_numbers(asterisk_sandbox: AsteriskSandbox) -> None:
    """`_0XXXXXXXXX.` would match letters and any length: the guard keeps them from Dial."""
    bad = ("0101234567x8", "0101234567890")  # a letter; 13 digits
    with Ami(asterisk_sandbox.observer) as observer:
        for number in bad:
            reply = observer.action(
                "Originate",
                Channel=f"Local/{number}@outbound-trunk",
                Application="Wait",
                Data="1",
                Async="true",
                variables={"IVR_LEG_KEY": "0" * 32},  # as if the bridge placed it
            )
            assert reply["Response"] == "Success", reply
        for number in bad:
            observer.wait_for(
                lambda m, n=number: (
                    m.get("Event") == "Hangup"
                    and m.get("Channel", "").startswith(f"Local/{n}@outbound-trunk-")
                    and m.get("Channel", "").endswith(";2")
                    and m.get("Cause") == "28"
                )
            )
    dialled = [
        m
        for m in observer.seen
        if m["Event"] == "Newexten"
        and m.get("Application") == "Dial"
        and any(m.get("Channel", "").startswith(f"Local/{n}@") for n in bad)
    ]
    assert not dialled, dialled


def test_outbound_trunk_dials_only_what_the_bridge_placed(
    asterisk_sandbox: AsteriskSandbox,
) -> None:
    """A channel reaching [outbound-trunk] without the bridge's leg key (a queue member or any
    Local channel pointed there) is refused with cause 21 before Dial(); a leg carrying a key
    of the bridge's form goes on to the trunk."""
    stranger, placed = "13800138001", "13800138002"
    with Ami(asterisk_sandbox.observer) as observer:
        for number, variables in ((stranger, {}), (placed, {"IVR_LEG_KEY": "a1" * 16})):
            reply = observer.action(
                "Originate",
                Channel=f"Local/{number}@outbound-trunk",
                Application="Wait",
                Data="1",
                Async="true",
                Timeout="3000",
                variables=variables,
            )
            assert reply["Response"] == "Success", reply
        refused = observer.wait_for(
            lambda m: (
                m.get("Event") == "Hangup"
                and m.get("Channel", "").startswith(f"Local/{stranger}@outbound-trunk-")
                and m.get("Channel", "").endswith(";2")
            )
        )
        assert refused.get("Cause") == "21", refused
        observer.wait_for(
            lambda m: (
                m.get("Event") == "Newexten"
                and m.get("Application") == "Dial"
                and m.get("Channel", "").startswith(f"Local/{placed}@outbound-trunk-")
            )
        )
        observer.wait_for(
            lambda m: (
                m.get("Event") == "Hangup"
                and m.get("Channel", "").startswith(f"Local/{placed}@outbound-trunk-")
                and m.get("Channel", "").endswith(";2")
            )
        )
    dialled = [
        m
        for m in observer.seen
        if m["Event"] == "Newexten"
        and m.get("Application") == "Dial"
        and m.get("Channel", "").startswith(f"Local/{stranger}@")
    ]
    assert not dialled, dialled


def test_the_five_queues_exist_with_a_15_second_service_level(
    asterisk_sandbox: AsteriskSandbox,
) -> None:
    shown = asterisk_sandbox.rx("queue show")
    for queue in QUEUES:
        line = next((ln for ln in shown.splitlines() if ln.startswith(f"{queue} ")), "")
        assert "'rrmemory' strategy" in line, (queue, shown)
        assert "within 15s" in line, (queue, line)


# ------------------------------------------------------------------------- AMI


def test_ami_events_carry_timestamps(asterisk_sandbox: AsteriskSandbox) -> None:
    with Ami(asterisk_sandbox.ami) as ami:
        reply = ami.action(
            "Originate",
            Channel="Local/s@sim-caller",
            Application="Wait",
            Data="1",
            Async="true",
            variables={"SIM_PAUSE": "0", "SIM_HOLD": "1"},
        )
        assert reply["Response"] == "Success", reply
        newchannel = ami.wait_for(event("Newchannel", Exten="s"))
        events = ami.collect(0.5)
    assert re.fullmatch(r"\d+\.\d+", newchannel.get("Timestamp", "")), newchannel
    # the greeting FullyBooted is written straight to the new session and has no Timestamp
    unstamped = [m for m in events if "Timestamp" not in m and m["Event"] != "FullyBooted"]
    assert not unstamped, unstamped


def test_ami_user_is_refused_cli_commands_and_system_apps(
    asterisk_sandbox: AsteriskSandbox,
) -> None:
    with Ami(asterisk_sandbox.ami) as ami:
        command = ami.action("Command", Command="core show version")
        assert command["Response"] == "Error", command
        assert "Permission denied" in command.get("Message", ""), command
        config = ami.action("GetConfig", Filename="manager.conf")
        assert config["Response"] == "Error", config
        system = ami.action(
            "Originate", Channel="Local/s@sim-caller", Application="System", Data="true"
        )
        assert system["Response"] == "Error", system


def test_ami_user_may_do_what_the_bridge_does_and_nothing_more(
    asterisk_sandbox: AsteriskSandbox,
) -> None:
    """Logged in as the bridge's AMI user: every action the bridge sends works (resync lists,
    queue membership and pause, the agent-device global, a callback-style Originate into a
    context); actions outside its classes (CLI, configuration, AstDB, modules, reloads,
    dangerous applications) are refused with "Permission denied"."""
    interface = "Local/2998@sim-agents/n"
    with Ami(asterisk_sandbox.ami) as ami:
        used = [
            ami.action("Ping"),
            ami.action("QueueStatus", Queue="q-t-8"),
            ami.action("CoreShowChannels"),
            ami.action("Setvar", Variable="IVR_AGENT_DEVICE_2998", Value=""),
            ami.action("QueueAdd", Queue="q-t-8", Interface=interface, Paused="true"),
            ami.action(
                "QueuePause", Queue="q-t-8", Interface=interface, Paused="true", Reason="test"
            ),
            ami.action("QueueRemove", Queue="q-t-8", Interface=interface),
            ami.action(
                "Originate",
                Channel="Local/s@sim-caller",
                Context="sim-caller",
                Exten="s",
                Priority="1",
                Async="true",
                variables={"SIM_PAUSE": "0", "SIM_HOLD": "0"},
            ),
        ]
        for reply in used:
            assert reply["Response"] == "Success", reply
        refused = [
            ami.action("Command", Command="core show channels"),
            ami.action("GetConfig", Filename="extensions.conf"),
            ami.action("UpdateConfig", SrcFilename="manager.conf", DstFilename="manager.conf"),
            ami.action("DBPut", Family="x", Key="y", Val="z"),
            ami.action("Reload"),
            ami.action("ModuleLoad", Module="app_system.so", LoadType="load"),
        ]
        for reply in refused:
            assert reply["Response"] == "Error", reply
            assert "Permission denied" in reply.get("Message", ""), reply
        dangerous = [
            ami.action(
                "Originate", Channel="Local/s@sim-caller", Application="Exec", Data="Wait(1)"
            ),
            ami.action(
                "Originate", Channel="Local/s@sim-caller", Application="Wait", Data="${SHELL(id)}"
            ),
        ]
        for reply in dangerous:
            assert reply["Response"] == "Error", reply


def test_ami_refuses_a_wrong_secret(asterisk_sandbox: AsteriskSandbox) -> None:
    wrong = AmiEndpoint(
        asterisk_sandbox.ami.host, asterisk_sandbox.ami.port, asterisk_sandbox.ami.username, "wrong"
    )
    with pytest.raises(AssertionError, match="Error"):
        Ami(wrong)


def test_endpoint_repr_hides_the_secret(asterisk_sandbox: AsteriskSandbox) -> None:
    assert asterisk_sandbox.ami.secret not in repr(asterisk_sandbox.ami)
    assert asterisk_sandbox.ami.secret not in repr(asterisk_sandbox.status())


# ------------------------------------------------------------------------- simulated people


def test_simulated_caller_keys_arrive_as_dtmf_on_the_ivr_leg(
    asterisk_sandbox: AsteriskSandbox,
) -> None:
    """SIM_KEYS from Originate reaches the ;1 leg, its SendDTMF arrives on the ;2 leg."""
    with Ami(asterisk_sandbox.observer) as observer, Ami(asterisk_sandbox.ami) as bridge:
        reply = observer.action(
            "Originate",
            Channel="Local/95598@from-pstn",
            Context="sim-caller",
            Exten="s",
            Priority="1",
            Async="true",
            variables={
                "SIM_KEYS": "12",
                "SIM_PAUSE": "0.2",
                "SIM_HOLD": "1",
                "IVR_AGI_URL": DEAD_AGI,
            },
        )
        assert reply["Response"] == "Success", reply
        first = observer.wait_for(event("Newchannel", Context="from-pstn", Exten="95598"))
        call = first["Channel"].rsplit(";", 1)[0]
        ivr_leg = f"{call};2"
        digits = []
        for _ in range(2):
            end = observer.wait_for(
                lambda m: (
                    m.get("Event") == "DTMFEnd"
                    and m.get("Channel") == ivr_leg
                    and m.get("Direction") == "Received"
                    and m.get("Digit") not in digits
                )
            )
            digits.append(end["Digit"])
        assert digits == ["1", "2"]
        assert observer.wait_for(event("DTMFBegin", Channel=ivr_leg, Direction="Received"))
        observer.wait_for(event("Hangup", Channel=ivr_leg))
        # the bridge's own login never sees keypresses (privacy, least privilege)
        bridge_events = bridge.collect(0.3)
    assert not [m for m in bridge_events if m["Event"].startswith("DTMF")]


def test_bridge_down_the_caller_still_reaches_an_agent(asterisk_sandbox: AsteriskSandbox) -> None:
    """FastAGI unreachable → fallback q-general → a simulated agent added by QueueAdd answers.

    Also shows what the call-ended hangup handler hands the bridge: for an answered call
    QUEUESTATUS is empty and MEMBERINTERFACE is the agent (TIMEOUT and "" on a timeout).
    """
    # not 1001-1008: other suites log those in (members live until Asterisk restarts)
    member = "Local/1901@sim-agents/n"
    call_id = uuid.uuid4().hex
    with Ami(asterisk_sandbox.observer) as observer, Ami(asterisk_sandbox.ami) as bridge:
        bridge.action("QueueRemove", Queue="q-general", Interface=member)  # a crashed run's
        bridge.action("QueueStatus", Queue="q-general")
        bridge.wait_for(event("QueueStatusComplete"))
        others = [m for m in bridge.seen if m["Event"] == "QueueMember"]
        added = bridge.action("QueueAdd", Queue="q-general", Interface=member, MemberName="1901")
        assert added["Response"] == "Success", added
        try:
            reply = bridge.action(
                "Originate",
                Channel="Local/95598@from-pstn",
                Context="sim-caller",
                Exten="s",
                Priority="1",
                Async="true",
                variables={"SIM_HOLD": "10", "IVR_AGI_URL": DEAD_AGI, "IVR_CALL_ID": call_id},
            )
            assert reply["Response"] == "Success", reply
            joined = bridge.wait_for(event("QueueCallerJoin", Queue="q-general"))
            caller = joined["Channel"]
            connect = bridge.wait_for(event("AgentConnect", Queue="q-general", Channel=caller))
            # the simulated agent hangs up after talking; the hangup handler reports the call
            handler = observer.wait_for(
                lambda m: (
                    m.get("Event") == "Newexten"
                    and m.get("Channel") == caller
                    and m.get("Context") == "ivr-call-ended"
                    and m.get("Application") == "AGI"
                )
            )
        finally:
            bridge.action("QueueRemove", Queue="q-general", Interface=member)
    answered_by = connect["Interface"]
    if not others:  # with other members logged in, rrmemory may pick one of them
        assert answered_by == member, connect
    assert answered_by.endswith("@sim-agents/n"), connect
    assert handler["AppData"] == f"{DEAD_AGI}/call-ended,{call_id},,{answered_by}", handler
