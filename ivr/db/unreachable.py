"""Why an admin command could not open the database, in words the operator acts on.

``ivr db upgrade``, ``ivr token …`` and the other commands that open the database fail at once
when it cannot be reached (the bridge itself serves calls on and retries: see
``services/schema_migration``). The driver's exception names neither the setting nor what to
do; this turns the usual causes into that, and leaves anything else (a bug) alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from asyncpg.exceptions import InvalidAuthorizationSpecificationError, InvalidCatalogNameError


def unreachable_reason(exc: BaseException) -> str | None:
    """What went wrong and what to do, for ``database.url``; None when ``exc`` is not about
    reaching the database. Never the password: the driver's messages name the user only."""
    for link in _chain(exc):
        if isinstance(link, InvalidAuthorizationSpecificationError):
            return f"the server refused the login ({link}): check the user and password"
        if isinstance(link, InvalidCatalogNameError):
            return f"{link}: create it (createdb) or correct the database name"
        if isinstance(link, OSError):
            reason = f"{type(link).__name__}: {link}".splitlines()[0][:200]
            return f"cannot connect ({reason}): check that the database runs and listens there"
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__
