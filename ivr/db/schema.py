"""Every table on one ``MetaData``: what Alembic and the schema test compare the migrations to.

Table modules register on ``Base.metadata`` when imported; importing this module imports them
all, so a foreign key to another module's table always resolves. ``ivr.db`` imports it first.
"""

from __future__ import annotations

from ivr.db import (
    agent_state_models,
    alert_models,
    dispatch_models,
    inspection_models,
    live_models,
    models,
    monitor_models,
    outage_models,
    recording_models,
    seat_models,
    server_models,
    virtual_hold_models,
    workorder_models,
)
from ivr.db.base import Base

metadata = Base.metadata

__all__ = [
    "Base",
    "agent_state_models",
    "alert_models",
    "dispatch_models",
    "inspection_models",
    "live_models",
    "metadata",
    "models",
    "monitor_models",
    "outage_models",
    "recording_models",
    "seat_models",
    "server_models",
    "virtual_hold_models",
    "workorder_models",
]
