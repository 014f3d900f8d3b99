"""The ``seats`` table: agents' SIP seats (created only by migration ``0014_seats``).

``password_digest`` is ``MD5:<HA1>``, what Asterisk checks a REGISTER against; the secret
itself is never stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime


class SeatRow(Base):
    __tablename__ = "seats"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    password_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(64))


seats_table = SeatRow.__table__
