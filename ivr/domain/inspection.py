"""Quality inspection (质检): the scoring standard, one inspection's score, which calls are
drawn for inspection, and what the month's inspections say about each agent.

The standard's items (标准开场白, 普通话, 礼貌用语, 首问负责, 业务准确, 规范结束语) each carry a
weight in points; an inspector gives each item 0..weight points. An item scored below
``pass_ratio`` of its weight is *failed*; a call with a failed item counts as an error in the
error rate (calls with a failed item ÷ calls inspected; the standard's target is under
0.5 %). The quality score of an inspection is its points out of 100.

Sampling: of each agent's recorded calls in a period (a day or a month), a share drawn at
random, plus every call linked to a complaint order and every call whose order's 回访 found
the customer dissatisfied. "At random" is a keyed hash of the period and the recording id
(the centre's secret is the key): agents cannot predict it, and the same period always gives
the same draw, so the queue is stable while inspectors work through it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

ERROR_RATE_TARGET = 0.005  # the standard: an error rate under 0.5 %
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class BadStandard(ValueError):
    """Settings that do not make a scoring standard."""


class BadScores(ValueError):
    """An inspection's scores that do not fit the standard."""


class AlreadyInspected(Exception):
    """The recording has its inspection already (one per recording)."""


@dataclass(frozen=True, slots=True)
class InspectionItem:
    key: str  # stored with each inspection's scores
    label: str  # what the form shows, e.g. 标准开场白
    weight: int  # points the item is worth


DEFAULT_ITEMS = (
    InspectionItem("opening", "标准开场白", 15),
    InspectionItem("mandarin", "普通话", 10),
    InspectionItem("courtesy", "礼貌用语", 20),
    InspectionItem("first_ask", "首问负责", 20),
    InspectionItem("accuracy", "业务准确", 25),
    InspectionItem("closing", "规范结束语", 10),
)


@dataclass(frozen=True, slots=True)
class QualityStandard:
    items: tuple[InspectionItem, ...] = DEFAULT_ITEMS
    pass_ratio: float = 0.6  # an item scored below this share of its weight is failed

    def __post_init__(self) -> None:
        if not self.items:
            raise BadStandard("the standard needs at least one item")
        keys = [i.key for i in self.items]
        if len(set(keys)) != len(keys):
            raise BadStandard("item keys must be unique")
        for item in self.items:
            if not _KEY.match(item.key):
                raise BadStandard(f"item key {item.key!r}: lower-case letters, digits, _")
            if not 1 <= item.weight <= 100:
                raise BadStandard(f"item {item.key}: weight 1-100")
            if not item.label.strip():
                raise BadStandard(f"item {item.key}: a label is needed")
        if not 0 < self.pass_ratio <= 1:
            raise BadStandard("pass_ratio is in (0, 1]")

    @property
    def points(self) -> int:
        return sum(i.weight for i in self.items)

    def as_dict(self) -> dict[str, object]:
        return {
            "items": [{"key": i.key, "label": i.label, "weight": i.weight} for i in self.items],
            "points": self.points,
            "pass_ratio": self.pass_ratio,
        }


@dataclass(frozen=True, slots=True)
class Scored:
    """One inspection's result: per-item points, the score out of 100, the failed items."""

    scores: dict[str, int]
    score: float  # 0..100, one decimal
    failed_items: tuple[str, ...]

    @property
    def failed(self) -> bool:
        return bool(self.failed_items)


def score(standard: QualityStandard, given: Mapping[str, object]) -> Scored:
    """Check an inspector's scores against the standard (every item, whole points within its
    weight, nothing else) and compute the result; :class:`BadScores` says what is wrong."""
    known = {i.key for i in standard.items}
    unknown = sorted(set(given) - known)
    if unknown:
        raise BadScores(f"not items of the standard: {', '.join(unknown)}")
    scores: dict[str, int] = {}
    for item in standard.items:
        if item.key not in given:
            raise BadScores(f"{item.key} ({item.label}) is not scored")
        value = given[item.key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadScores(f"{item.key}: whole points")
        if not 0 <= value <= item.weight:
            raise BadScores(f"{item.key} ({item.label}): 0-{item.weight} points")
        scores[item.key] = value
    failed = tuple(i.key for i in standard.items if scores[i.key] < i.weight * standard.pass_ratio)
    total = round(100 * sum(scores.values()) / standard.points, 1)
    return Scored(scores, total, failed)


# ------------------------------------------------------------------------------ sampling


class SampleReason(StrEnum):
    SAMPLED = "sampled"  # the random share of the agent's calls
    COMPLAINT = "complaint"  # linked to a complaint order
    DISSATISFIED = "dissatisfied"  # its order's 回访 found the customer dissatisfied


class SamplePer(StrEnum):
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A complete recording of an agent's call in the period, and what is known of it."""

    recording_id: int
    job_number: str
    complaint: bool = False
    dissatisfied: bool = False


@dataclass(frozen=True, slots=True)
class Drawn:
    recording_id: int
    job_number: str
    reasons: tuple[SampleReason, ...]


def _rank(key: bytes, period: str, recording_id: int) -> str:
    return hmac.new(key, f"{period}:{recording_id}".encode(), hashlib.sha256).hexdigest()


def draw(candidates: Iterable[Candidate], share: float, key: bytes, period: str) -> list[Drawn]:
    """The inspection queue of a period: for each agent ``ceil(share × calls)`` of their calls
    chosen by the keyed hash, plus every complaint and dissatisfied call; ordered by agent,
    then recording id."""
    if not 0 <= share <= 1:
        raise ValueError("share is 0..1")
    by_agent: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_agent.setdefault(c.job_number, []).append(c)
    result = []
    for job in sorted(by_agent):
        calls = by_agent[job]
        wanted = math.ceil(share * len(calls) - 1e-9)
        ranked = sorted(calls, key=lambda c: _rank(key, period, c.recording_id))
        chosen = {c.recording_id for c in ranked[:wanted]}
        for c in sorted(calls, key=lambda c: c.recording_id):
            reasons = []
            if c.recording_id in chosen:
                reasons.append(SampleReason.SAMPLED)
            if c.complaint:
                reasons.append(SampleReason.COMPLAINT)
            if c.dissatisfied:
                reasons.append(SampleReason.DISSATISFIED)
            if reasons:
                result.append(Drawn(c.recording_id, job, tuple(reasons)))
    return result


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def period_bounds(text: str, per: SamplePer, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of ``2026-12-05`` (per day) or ``2026-12`` (per month) in the centre's
    zone; ValueError if the text is not a period of that kind."""
    try:
        if per is SamplePer.DAY:
            if not _DAY.match(text):
                raise ValueError
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), zone)
            return start, datetime.combine(day + timedelta(days=1), time(), zone)
        if not _MONTH.match(text):
            raise ValueError
        year, month = int(text[:4]), int(text[5:])
        first = date(year, month, 1)
    except ValueError:
        example = "2026-12-05" if per is SamplePer.DAY else "2026-12"
        raise ValueError(f"the period is a {per.value} like {example}") from None
    following = date(year + month // 12, month % 12 + 1, 1)
    return datetime.combine(first, time(), zone), datetime.combine(following, time(), zone)


def period_of(moment: datetime, per: SamplePer, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d" if per is SamplePer.DAY else "%Y-%m")


# ------------------------------------------------------------------- monthly assessment


@dataclass(frozen=True, slots=True)
class InspectionFact:
    """One inspection as the monthly report needs it."""

    job_number: str
    score: float
    failed: bool


@dataclass(frozen=True, slots=True)
class QualityFigures:
    inspected: int = 0
    inspected_with_errors: int = 0  # inspected calls with at least one failed item
    error_rate: float | None = None
    quality_score: float | None = None  # mean score of the inspections, 0..100


def quality(facts: Sequence[InspectionFact]) -> QualityFigures:
    if not facts:
        return QualityFigures()
    errors = sum(f.failed for f in facts)
    return QualityFigures(
        inspected=len(facts),
        inspected_with_errors=errors,
        error_rate=errors / len(facts),
        quality_score=round(sum(f.score for f in facts) / len(facts), 1),
    )


def quality_by_agent(facts: Sequence[InspectionFact]) -> dict[str, QualityFigures]:
    grouped: dict[str, list[InspectionFact]] = {}
    for f in facts:
        grouped.setdefault(f.job_number, []).append(f)
    return {job: quality(its) for job, its in grouped.items()}


@dataclass(frozen=True, slots=True)
class Inspection:
    """A stored inspection as the API shows it."""

    id: int
    recording_id: int
    call_id: str
    agent_job_number: str | None
    inspector: str
    inspected_at: datetime
    scores: dict[str, int]
    score: float
    failed_items: tuple[str, ...]
    comment: str | None
    findings_used: tuple[str, ...]
    reasons: tuple[str, ...]
    standard: dict[str, object]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "recording_id": self.recording_id,
            "call_id": self.call_id,
            "agent_job_number": self.agent_job_number,
            "inspector": self.inspector,
            "inspected_at": self.inspected_at.isoformat(),
            "scores": dict(self.scores),
            "score": self.score,
            "failed": bool(self.failed_items),
            "failed_items": list(self.failed_items),
            "comment": self.comment,
            "findings_used": list(self.findings_used),
            "reasons": list(self.reasons),
            "standard": self.standard,
        }
