"""Outbound calls over AMI (``Originate``, async): one adapter for 回访 callbacks and repair
dispatch alike.

Both dial ``Local/<number>@<trunk_context>`` (``dial_string`` checks the number), run the
answered leg in ``originate_context`` and are told apart by their ActionID
(``ivr.domain.attempt_ids``) and a channel variable. What this adds to a bare action is the
one distinction the callers must act on: a refusal (Asterisk said Error: the call does not
exist) against no answer at all (the call may exist), which is ``OriginateUnconfirmed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from ivr.asterisk.ami import AmiClient, AmiLinkLost
from ivr.domain.leg_keys import LegKeys
from ivr.domain.phone import PhoneNumber, dial_string
from ivr.ports import OriginateUnconfirmed


@dataclass(frozen=True, slots=True)
class OutboundRoute:
    """How one kind of outbound call is dialled, from its settings section."""

    trunk_context: str
    originate_context: str
    caller_id: str
    attempt_variable: str  # carries the ActionID to the dialplan: IVR_CALLBACK_ATTEMPT, …
    agi_variable: str  # the AGI URL the answered leg runs, when set: IVR_CB_AGI, …
    agi_url: str | None = None


class OutboundClaim(Protocol):
    @property
    def action_id(self) -> str: ...

    @property
    def phone(self) -> PhoneNumber: ...


ClaimT = TypeVar("ClaimT", bound=OutboundClaim)


class AmiLegOriginator(Generic[ClaimT]):
    """The ``Originator`` / ``DispatchOriginator`` port over AMI; ``ring_timeout_s`` says how
    long a claim rings (a setting for callbacks, the plan's for each call to a crew)."""

    def __init__(
        self,
        ami: AmiClient,
        route: OutboundRoute,
        ring_timeout_s: Callable[[ClaimT], float],
        keys: LegKeys,
    ) -> None:
        self._ami = ami
        self._route = route
        self._ring_timeout_s = ring_timeout_s
        self._keys = keys

    async def originate(self, claim: ClaimT) -> None:
        route = self._route
        variables = [
            f"{route.attempt_variable}={claim.action_id}",
            # the answered leg hands it back to the AGI route, which checks it
            f"IVR_LEG_KEY={self._keys.key_for(claim.action_id)}",
        ]
        if route.agi_url:
            variables.append(f"{route.agi_variable}={route.agi_url}")
        await originate(
            self._ami,
            action_id=claim.action_id,
            phone=claim.phone,
            trunk_context=route.trunk_context,
            originate_context=route.originate_context,
            caller_id=route.caller_id,
            ring_timeout_s=self._ring_timeout_s(claim),
            variables=variables,
        )


async def originate(
    ami: AmiClient,
    *,
    action_id: str,
    phone: PhoneNumber,
    trunk_context: str,
    originate_context: str,
    caller_id: str,
    ring_timeout_s: float,
    variables: list[str],
) -> None:
    """Place the call; ``AmiError`` if Asterisk refused it, ``OriginateUnconfirmed`` if it
    never said."""
    action = {
        "Action": "Originate",
        "ActionID": action_id,
        "Channel": dial_string(phone, trunk_context),
        "Context": originate_context,
        "Exten": "s",
        "Priority": "1",
        "CallerID": f'"95598" <{caller_id}>',
        "Timeout": str(int(ring_timeout_s * 1000)),
        "Variable": ",".join(variables),
        "Async": "true",
    }
    try:
        await ami.action(action)
    except (TimeoutError, AmiLinkLost) as exc:
        raise OriginateUnconfirmed(f"{action_id}: {exc or 'no answer from Asterisk'}") from exc
