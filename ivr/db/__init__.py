"""Call records in SQLite or PostgreSQL: engine, models, Alembic migrations and the repository.

The domain never imports this package; it is wired in at start-up through ``CallRepository``.
"""

from ivr.db import schema as _schema  # noqa: F401  (every table registered, first)
from ivr.db.calls import SqlCallRepository, UnknownCallError
from ivr.db.engine import create_engine
from ivr.db.migrate import current_revision, head_revision, upgrade

__all__ = [
    "SqlCallRepository",
    "UnknownCallError",
    "create_engine",
    "current_revision",
    "head_revision",
    "upgrade",
]
