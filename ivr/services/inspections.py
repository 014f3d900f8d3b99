"""Quality inspection (质检) as a use case: the inspection queue of a period, an inspector's
scoring of one recorded call, and who sees which results.

The pure rules (the standard, scoring, the random draw) are ``ivr.domain.inspection``; this
module loads what they need (recordings of the period, the centre's secret as the draw's key)
and stores the result.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from ivr.domain.access import Principal, Role
from ivr.domain.inspection import (
    BadScores,
    Drawn,
    Inspection,
    QualityStandard,
    SamplePer,
    draw,
    period_bounds,
    period_of,
    score,
)
from ivr.domain.recordings import RecordingState
from ivr.ports import InspectionStore, RecordingStore

log = logging.getLogger(__name__)

MAX_COMMENT = 2000


@dataclass(frozen=True, slots=True)
class SamplingRule:
    share: float  # of each agent's recorded calls in a period
    per: SamplePer


class InspectionService:
    def __init__(
        self,
        store: InspectionStore,
        recordings: RecordingStore,
        standard: QualityStandard,
        rule: SamplingRule,
        zone: tzinfo,
        key: Callable[[], Awaitable[bytes]],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.recordings = recordings
        self.standard = standard
        self.rule = rule
        self.zone = zone
        self._key = key
        self._clock = clock

    def current_period(self) -> str:
        return period_of(self._clock(), self.rule.per, self.zone)

    async def _drawn(self, period: str) -> list[Drawn]:
        start, end = period_bounds(period, self.rule.per, self.zone)
        candidates = await self.store.candidates(start, end)
        # the draw's own key, derived from the centre's secret (not the secret itself)
        key = hmac.new(await self._key(), b"inspection sample", hashlib.sha256).digest()
        return draw(candidates, self.rule.share, key, period)

    async def queue(self, period: str) -> dict[str, Any]:
        """The period's inspection queue (ValueError for a malformed period): each drawn
        recording with why it was drawn and its inspection, if done."""
        drawn = await self._drawn(period)
        done = await self.store.of_recordings([d.recording_id for d in drawn])
        entries = []
        for d in drawn:
            recording = await self.recordings.get(d.recording_id)
            if recording is None:
                continue
            entries.append(
                {
                    "recording_id": d.recording_id,
                    "call_id": recording.call_id,
                    "agent_job_number": d.job_number,
                    "started_at": recording.started_at.isoformat(),
                    "duration_ms": recording.duration_ms,
                    "reasons": [r.value for r in d.reasons],
                    "findings": [f.kind.value for f in recording.findings],
                    "inspection_id": done.get(d.recording_id),
                }
            )
        return {
            "period": period,
            "per": self.rule.per.value,
            "share": self.rule.share,
            "calls": entries,
            "pending": sum(e["inspection_id"] is None for e in entries),
        }

    async def inspect(
        self,
        who: Principal,
        recording_id: int,
        scores: dict[str, object],
        comment: str | None,
        findings_used: list[str],
    ) -> Inspection | None:
        """Score one recorded call. None: no such recording; ``BadScores`` (ValueError) for
        scores or findings that do not fit; ``AlreadyInspected`` if it has its inspection."""
        recording = await self.recordings.get(recording_id)
        if recording is None:
            return None
        if not recording.kind.answered_by_agent or recording.agent_job_number is None:
            raise BadScores("only an agent's recorded call is inspected")
        if recording.state is not RecordingState.COMPLETE:
            raise BadScores(f"the recording is {recording.state.value}: nothing to hear")
        scored = score(self.standard, scores)
        found = {f.kind.value for f in recording.findings}
        if unknown := sorted(set(findings_used) - found):
            raise BadScores(f"not findings of this recording: {', '.join(unknown)}")
        if comment is not None and len(comment) > MAX_COMMENT:
            raise BadScores(f"the comment is at most {MAX_COMMENT} characters")
        period = period_of(recording.started_at, self.rule.per, self.zone)
        reasons = next(
            (
                [r.value for r in d.reasons]
                for d in await self._drawn(period)
                if d.recording_id == recording.id
            ),
            [],
        )
        new_id = await self.store.add(
            recording.id,
            recording.agent_job_number,
            who.name,
            scored,
            comment or None,
            sorted(set(findings_used)),
            reasons,
            self.standard.as_dict(),
        )
        log.info(
            "call %s inspected by %s: %.1f%s",
            recording.call_id,
            who.name,
            scored.score,
            f", failed {','.join(scored.failed_items)}" if scored.failed else "",
        )
        return await self.store.get(new_id)

    async def visible(
        self, who: Principal, since: datetime | None, until: datetime | None, limit: int
    ) -> list[Inspection]:
        """Inspections ``who`` may read: an agent their own calls', others all."""
        if who.role is Role.AGENT:
            if who.job_number is None:
                return []
            return await self.store.listing(who.job_number, since, until, limit)
        return await self.store.listing(None, since, until, limit)

    async def one(self, who: Principal, inspection_id: int) -> Inspection | None:
        """One inspection; ``PermissionError`` for another agent's."""
        found = await self.store.get(inspection_id)
        if found is None:
            return None
        if who.role is Role.AGENT and (
            who.job_number is None or who.job_number != found.agent_job_number
        ):
            raise PermissionError("this inspection is not of your call")
        return found
