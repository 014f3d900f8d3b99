"""Each bridge's live picture, one row per bridge (created only by migration
``0025_live_pictures``; ``ivr.db.live_state``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime


class LivePictureRow(Base):
    """What one bridge sees on its Asterisk now (``ivr.domain.live_picture.BridgePicture`` as
    JSON, callers' numbers masked); ``heartbeat_at`` is rewritten every few seconds, and a row
    whose heartbeat is older than the readers' expiry is a dead bridge's: ignored, deleted."""

    __tablename__ = "live_pictures"

    bridge: Mapped[str] = mapped_column(String(128), primary_key=True)
    server: Mapped[str] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    picture: Mapped[str] = mapped_column(Text())


live_pictures_table = LivePictureRow.__table__
