"""Reading requests the same way in every API module, so each route refuses bad input with the
same status and shape (``{"error": …}``, see ``ivr.web.errors``): strict bodies (unknown fields
refused, 422 with per-field details), path ids and order numbers (404 when malformed, never a
500 from the database), the ``limit`` query parameter, JSON-ready values, and who acted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ivr.domain.access import Principal
from ivr.domain.text_input import INT32_MAX, refused_character
from ivr.web.errors import json_error, read_json

ORDER_NO = re.compile(r"^[0-9A-F]{20}$")
MAX_LIMIT = 500  # rows in one answer
# Free text is kept verbatim (quotes, & | , ; and line breaks are legitimate in a summary);
# only control characters that no person types (NUL, escape…) are refused: PostgreSQL cannot
# store NUL, and terminal escapes have no place in a record.
NO_CONTROLS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class StrictIn(BaseModel):
    """A request body: a field the API does not know is an error, not silently dropped.

    Every text in it, however deeply nested, is checked for characters no person types
    (``ivr.domain.text_input``), and every whole number must fit a database integer, so a
    field a model forgot to constrain still gets a 422, never a stored escape or a 500.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _plain_values(cls, value: Any) -> Any:
        _check_plain(value)
        return value


def _check_plain(value: Any) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, str):
        if (problem := refused_character(value)) is not None:
            raise ValueError(f"contains {problem}")
    elif isinstance(value, int):
        if not -INT32_MAX - 1 <= value <= INT32_MAX:
            raise ValueError(f"must be between {-INT32_MAX - 1} and {INT32_MAX}")
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_plain(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key)
            _check_plain(item)


async def parse_body(
    request: web.Request, model: type[BaseModel], *, missing_is_empty: bool = False
) -> Any:
    """The body as ``model``: 400 if not JSON, 422 with each field's problem if invalid.
    With ``missing_is_empty``, no body at all is an empty object."""
    raw = await read_json(request) if request.can_read_body or not missing_is_empty else {}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise json_error(web.HTTPUnprocessableEntity, "invalid input", details=details) from None


def body_hash(body: BaseModel, **also: Any) -> str:
    """SHA-256 of what a request asks for (its validated body, key order and spacing aside,
    plus ``also``): stored with an ``Idempotency-Key`` so the key with another body is refused."""
    meaning = {**body.model_dump(mode="json"), **also}
    canonical = json.dumps(meaning, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def path_id(request: web.Request, name: str, what: str) -> int:
    """A numeric id from the path; anything else is 404 ``no such {what}``."""
    raw = request.match_info[name]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or int(raw) > INT32_MAX:
        raise json_error(web.HTTPNotFound, f"no such {what}")
    return int(raw)


def path_order_no(request: web.Request) -> str:
    """The work-order number from the path; a malformed one is 404 like an unknown one."""
    order_no = request.match_info["order_no"]
    if not ORDER_NO.match(order_no):
        raise json_error(web.HTTPNotFound, "no such work order")
    return order_no


def query_limit(query: Mapping[str, str], default: int = 100, maximum: int = MAX_LIMIT) -> int:
    """The ``limit`` query parameter, 1–``maximum``; 400 ``limit is 1–500`` otherwise."""
    raw = query.get("limit")
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise json_error(web.HTTPBadRequest, f"limit is 1–{maximum}")
    return int(raw)


def query_choice(
    query: Mapping[str, str], name: str, allowed: Sequence[str], default: str | None = None
) -> str | None:
    """A query parameter that takes one of ``allowed``; 400 naming it and its values otherwise
    (and nothing about the other parameters)."""
    raw = query.get(name, default)
    if raw is not None and raw not in allowed:
        raise json_error(web.HTTPBadRequest, f"{name} is one of {', '.join(allowed)}")
    return raw


def to_json(value: Any) -> Any:
    """``value`` with its datetimes as ISO 8601 strings, nested dicts and lists included."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def actor(who: Principal) -> str:
    """Who did it, as history and follow-ups record it (``role:工号`` or ``role:name``)."""
    return f"{who.role.value}:{who.job_number or who.name}"[:64]
