"""The bridges of the centre and their heartbeats (``ivr.services.server_watch``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime, server_name_column


class BridgeRow(Base):
    """One running bridge: the server it serves and when it was last alive with AMI up. A row
    is removed when its bridge stops, or when a peer closes the calls of its lost server."""

    __tablename__ = "bridges"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)  # its claim identity
    server_name: Mapped[str] = server_name_column()
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


bridges_table = BridgeRow.__table__
