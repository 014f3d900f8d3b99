"""The declarative base every table module shares, and the column type for instants.

Its own module so that the table modules (``models``, ``workorder_models``, ``dispatch_models``,
``alert_models``) each import it and none imports another; ``ivr.db.schema`` gathers them all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, mapped_column

from ivr.domain.servers import DEFAULT_SERVER_NAME, SERVER_NAME_LENGTH

# Deterministic constraint names, so later migrations can refer to them (and SQLite batch mode
# can recreate them).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ENUM_LENGTH = 32  # fixed, so adding a longer enum value later is an explicit migration


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text (which sorts correctly), and
    this type puts ``UTC`` back on the way out, so both backends return identical values.
    Naive datetimes are refused: their meaning depends on the host's clock settings.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: call records need aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def server_name_column() -> Any:
    """The Asterisk server a row's call ran on (``asterisk.server_name``); rows stored before
    there were several servers belong to the default one."""
    return mapped_column(String(SERVER_NAME_LENGTH), server_default=DEFAULT_SERVER_NAME)
