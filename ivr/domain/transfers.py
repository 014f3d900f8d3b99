"""Blind transfer (转接) of an agent's current call: to another queue or to a named agent.

What the agent asks for is never dialled as given: a queue must be one of the queues the
centre allows, an agent is a 工号 that the bridge resolves to that agent's own seat (the
``[agent-dial]`` member, which rings the phone set at their login). The dialplan context
``[agent-transfer]`` checks both again before it acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ivr.domain.agents import JOB_NUMBER

TRANSFER_CONTEXT = "agent-transfer"  # shipped in asterisk_conf/extensions.conf


class TargetKind(StrEnum):
    QUEUE = "queue"
    AGENT = "agent"


class TransferRefused(ValueError):
    """A transfer that cannot be made; ``status`` is the HTTP answer it maps to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class TransferTarget:
    kind: TargetKind
    target: str  # a queue name or a 工号

    @property
    def extension(self) -> str:
        """The extension in ``[agent-transfer]``: the queue's name, or ``agt-<工号>`` (not
        ``agent-``: in a dialplan pattern ``n`` stands for a digit 2-9)."""
        return self.target if self.kind is TargetKind.QUEUE else f"agt-{self.target}"


def transfer_target(
    queue: str | None, job_number: str | None, allowed_queues: frozenset[str]
) -> TransferTarget:
    """Exactly one of ``queue`` (one of ``allowed_queues``) or ``job_number`` (a 工号)."""
    if (queue is None) == (job_number is None):
        raise TransferRefused(400, "give either queue or job_number")
    if queue is not None:
        if queue not in allowed_queues:
            raise TransferRefused(400, f"queue must be one of {', '.join(sorted(allowed_queues))}")
        return TransferTarget(TargetKind.QUEUE, queue)
    assert job_number is not None
    if not JOB_NUMBER.match(job_number):
        raise TransferRefused(400, "job_number is 1-16 digits")
    return TransferTarget(TargetKind.AGENT, job_number)


@dataclass(frozen=True, slots=True)
class CallTransfer:
    """One transfer as recorded on the call."""

    unique_id: str  # the caller's channel
    call_id: str | None  # the bridge's call id (IVR_CALL_ID), when the menu recorded the call
    at: datetime
    from_job_number: str
    from_queue: str
    target: TransferTarget
    actor: str

    def as_dict(self) -> dict[str, object]:
        return {
            "call_id": self.call_id,
            "at": self.at.isoformat(),
            "from_job_number": self.from_job_number,
            "from_queue": self.from_queue,
            "target_kind": self.target.kind.value,
            "target": self.target.target,
            "actor": self.actor,
        }
