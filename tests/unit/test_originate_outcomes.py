"""What the dialer and the dispatcher do with each way an Originate can end on our side.

Asterisk refused it (``AmiError``): the attempt failed, the next one may be placed. Asterisk
never said (``OriginateUnconfirmed``: timed out, or the link dropped after sending): the call
may be ringing, so nothing is marked and nothing is dialled again here; the OriginateResponse,
the conversation or the lease settles it. Fakes are fine for this branch of the services'
logic; ``tests/integration/test_fault_originate_unconfirmed.py`` drives the real path on the
sandbox, and the helper is driven here against a loopback AMI peer.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ivr.asterisk.ami import AmiClient, AmiError
from ivr.asterisk.originate import originate
from ivr.domain.callbacks import Claim
from ivr.domain.dispatch import DispatchClaim, Target
from ivr.domain.phone import PhoneNumber
from ivr.ports import OriginateUnconfirmed
from ivr.services.dialer import Dialer, DialerLimits
from ivr.services.dispatcher import Dispatcher, DispatcherLimits
from tests.unit.test_ami_reconnect import FakeAmi

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
PHONE = PhoneNumber("13800138000")


class Store:
    def __init__(self) -> None:
        self.failed: list[str] = []

    async def start_originate(self, action_id: str, owner: str, lease_s: float) -> bool:
        return True

    async def originate_failed(self, action_id: str, result: object, detail: str) -> None:
        self.failed.append(action_id)

    async def finish(self, action_id: str, result: object, detail: str | None) -> bool:
        self.failed.append(action_id)
        return True


class Originator:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def originate(self, claim: object) -> None:
        self.calls += 1
        raise self.error


def dialer(store: Store, originator: Originator) -> Dialer:
    limits = DialerLimits(
        max_concurrent=1, rate_per_s=1, ring_timeout_s=10, claim_lease_s=15, poll_interval_s=1
    )
    return Dialer(store, originator, limits, lambda: NOW, owner="t")  # type: ignore[arg-type]


def dispatcher(store: Store, originator: Originator) -> Dispatcher:
    return Dispatcher(
        store,  # type: ignore[arg-type]
        originator,
        None,  # type: ignore[arg-type]
        DispatcherLimits(),
        lambda: NOW,
        owner="t",
    )


CALLBACK = Claim("cb-1", PHONE, NOW)
DISPATCH = DispatchClaim("dp-1", PHONE, 20, "R0001", Target.CREW)


@pytest.mark.parametrize("make, claim", [(dialer, CALLBACK), (dispatcher, DISPATCH)])
async def test_unconfirmed_is_not_a_failure(make, claim) -> None:  # type: ignore[no-untyped-def]
    store, originator = Store(), Originator(OriginateUnconfirmed("no answer"))
    await make(store, originator)._place(claim)
    assert originator.calls == 1 and store.failed == []


@pytest.mark.parametrize("make, claim", [(dialer, CALLBACK), (dispatcher, DISPATCH)])
async def test_refused_is_a_failure(make, claim) -> None:  # type: ignore[no-untyped-def]
    store, originator = Store(), Originator(AmiError("Originate: Extension does not exist."))
    await make(store, originator)._place(claim)
    assert store.failed == [claim.action_id]


async def test_the_helper_reports_an_originate_lost_with_the_link_as_unconfirmed() -> None:
    fake = FakeAmi()  # answers the login and nothing else
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    client = AmiClient("127.0.0.1", server.sockets[0].getsockname()[1], "u", "s")
    try:
        await client.connect(timeout_s=5)
        call = dict(
            action_id="cb-2",
            phone=PHONE,
            trunk_context="trunk",
            originate_context="cb",
            caller_id="95598",
            ring_timeout_s=10,
            variables=["A=1"],
        )
        task = asyncio.create_task(originate(client, **call))  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        client.drop_connection()
        with pytest.raises(OriginateUnconfirmed):
            await task
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
