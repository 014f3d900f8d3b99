"""One outbound call over AMI (``Originate``, async), as callbacks and repair dispatch place it.

Both dial ``Local/<number>@<trunk_context>`` (``dial_string`` checks the number), run the
answered leg in ``originate_context`` and are told apart by their ActionID and a channel
variable. What this adds to a bare action is the one distinction the callers must act on: a
refusal (Asterisk said Error: the call does not exist) against no answer at all (the call may
exist), which is ``OriginateUnconfirmed``.
"""

from __future__ import annotations

from ivr.asterisk.ami import AmiClient, AmiLinkLost
from ivr.domain.phone import PhoneNumber, dial_string
from ivr.ports import OriginateUnconfirmed


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
