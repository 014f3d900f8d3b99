"""Who may do what through the API (least privilege)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"  # a customer representative: their own state and work
    SUPERVISOR = "supervisor"  # watches the figures, manages agents and escalations
    INSPECTOR = "inspector"  # quality inspection (质检): hears every call's recording
    INTEGRATION = "integration"  # the outside work-order system
    ADMIN = "admin"  # everything, including tokens


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of an API request."""

    name: str
    role: Role
    job_number: str | None = None  # an agent's 工号

    def may(self, allowed: frozenset[Role]) -> bool:
        return self.role is Role.ADMIN or self.role in allowed
