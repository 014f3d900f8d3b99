"""Which agent records and phones we accept: only a safe PJSIP endpoint ever reaches Dial()."""

from __future__ import annotations

import pytest

from ivr.domain.agents import Agent, device_state_interface, phone_member_interface
from ivr.services.agent_control import AgentControlError, check_agent, valid_device


@pytest.mark.parametrize("device", ["PJSIP/8001", "PJSIP/desk_12-a"])
def test_pjsip_endpoints_are_devices(device: str) -> None:
    assert valid_device(device)


@pytest.mark.parametrize(
    "device",
    [
        "PJSIP/8001&PJSIP/8002",  # a second phone smuggled into Dial()
        "PJSIP/8001,30,G(x)",  # Dial options
        "PJSIP/8001@trunk-95598",  # out through the carrier
        "PJSIP/13500000000@trunk-95598",
        "PJSIP/",
        "PJSIP/" + "a" * 41,
        "SIP/8001",
        "Local/9001@sim-phones/n",  # a stand-in only where the sandbox names its context
        "Local/95598@from-pstn/n",
        "pjsip/8001",
        "PJSIP/80 01",
    ],
)
def test_anything_else_is_refused(device: str) -> None:
    assert not valid_device(device)


def test_sandbox_stand_in_phones_only_in_the_named_context() -> None:
    assert valid_device("Local/9001@sim-phones/n", "sim-phones")
    assert not valid_device("Local/9001@from-pstn/n", "sim-phones")
    assert not valid_device("Local/9001@sim-phones", "sim-phones")
    assert not valid_device("Local/9001@x/n", "x/n|.*")  # a context that is a pattern is ignored


def test_phone_agents_are_agent_dial_members_watching_their_phone() -> None:
    assert phone_member_interface("1024") == "Local/1024@agent-dial/n"
    assert device_state_interface("PJSIP/8001") == "PJSIP/8001"
    assert device_state_interface("Local/9001@sim-phones/n") == "Local/9001@sim-phones"
    with pytest.raises(ValueError):
        phone_member_interface("10a4")


def test_check_agent() -> None:
    ok = Agent("1024", "王工", "Local/1024@agent-dial/n", ("q-repair",), "PJSIP/8001")
    assert check_agent(ok) is ok
    sim = Agent("2101", "sim", "Local/2101@sim-agents/n", ("q-t-1",))
    assert check_agent(sim, test_member_context="sim-agents") is sim
    bad = [
        sim,  # a simulated agent where none are configured (a site)
        # a member that dials out or back into the hotline: toll fraud, a call storm
        Agent("2101", "x", "Local/13800138000@outbound-trunk/n", ("q-repair",)),
        Agent("2101", "x", "Local/95598@from-pstn/n", ("q-repair",)),
        Agent("2101", "x", "PJSIP/trunk-95598", ("q-repair",)),
        Agent("1024", "x", "Local/1024@agent-dial/n", ("q-repair",), "PJSIP/8001&PJSIP/8002"),
        Agent("1024", "x", "Local/9999@agent-dial/n", ("q-repair",), "PJSIP/8001"),  # other 工号
        Agent("1024", "x", "Local/1024@agent-dial/n", ("q-repair",)),  # nothing to dial
        Agent("1024", "x", "PJSIP/8001", ("q-repair",), "PJSIP/8001"),  # no greeting possible
    ]
    for agent in bad:
        with pytest.raises(AgentControlError) as exc:
            check_agent(agent)
        assert exc.value.status == 400
    for agent in bad[1:]:  # and not in the sandbox either
        with pytest.raises(AgentControlError):
            check_agent(agent, test_member_context="sim-agents")
