"""``ivr config check``: every problem of a settings file at once, one line each.

The bridge stops at the first bad setting it meets; an operator editing a file wants the whole
list. pydantic already reports every invalid key of every section in one ``ValidationError``;
on top of that come the checks a schema cannot make: the SQLite file's folder, the files named
by ``*_file`` settings, the menu and holiday schedule files' own contents, time zones, and the
dispatch policy's arithmetic. Each line names the file (or the environment variable that
overrode it) and the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from ivr.config import Settings

ENV_PREFIX = "IVR_"
_NEVER_ECHOED = ("secret", "url")  # values that may hold a password or a token


@dataclass(frozen=True, slots=True)
class Problem:
    source: str  # the settings file, or the environment variable that set the key
    key: str  # dotted: "callback.max_concurrent"; "-" for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.message}"


def check_settings(path: Path | None) -> list[Problem]:
    """Every problem of the settings ``path`` (or ``$IVR_CONFIG``, or the defaults) together
    with the ``IVR_*`` environment; an empty list when the bridge would start with them."""
    name = str(path) if path is not None else os.environ.get("IVR_CONFIG", "")
    source = name or "(defaults)"
    if name:
        problem = _readable_toml(Path(name))
        if problem is not None:
            return [Problem(name, "-", problem)]
    with _config_file(name):
        try:
            return list(_beyond_the_schema(Settings(), source))
        except ValidationError as exc:
            problems = [_from_pydantic(source, error) for error in exc.errors(include_url=False)]
            broken = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        # the file-level checks still run over the sections that are valid: the sections with
        # errors are replaced by their defaults (init arguments win over the file) and skipped
        fields = Settings.model_fields
        defaults = {
            s: fields[s].get_default(call_default_factory=True) for s in broken if s in fields
        }
        try:
            rest = Settings(**defaults)
        except ValidationError:  # e.g. an unknown section: nothing more can be said
            return problems
    beyond = _beyond_the_schema(rest, source)
    return problems + [p for p in beyond if p.key.split(".")[0] not in broken]


def _readable_toml(path: Path) -> str | None:
    try:
        tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return "no such file"
    except IsADirectoryError:
        return "is a folder, not a file"
    except PermissionError:
        return "not readable by this user"
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except tomllib.TOMLDecodeError as exc:
        return f"not valid TOML: {exc}"
    return None


@contextmanager
def _config_file(name: str) -> Iterator[None]:
    """``Settings()`` reads the file named by ``$IVR_CONFIG``: name ours for the check only."""
    before = os.environ.get("IVR_CONFIG")
    if name:
        os.environ["IVR_CONFIG"] = name
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("IVR_CONFIG", None)
        else:
            os.environ["IVR_CONFIG"] = before


def _env_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", "__")


def _from_pydantic(source: str, error: object) -> Problem:
    err = dict(error)  # type: ignore[call-overload]
    key = ".".join(str(part) for part in err["loc"]) or "-"
    section_key = ".".join(str(part) for part in err["loc"][:2])
    env = _env_name(section_key)
    where = f"environment {env}" if env in os.environ else source
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key (misspelt, or not in this version): correct or remove it"
    elif "input" in err and not any(word in key for word in _NEVER_ECHOED):
        message += f" (got {err['input']!r:.60})"
    return Problem(where, key, message)


def _beyond_the_schema(settings: Settings, source: str) -> Iterator[Problem]:
    def problem(key: str, message: str) -> Problem:
        env = _env_name(key)
        return Problem(f"environment {env}" if env in os.environ else source, key, message)

    yield from _database(settings, problem)
    for key, file in (
        ("ami.secret_file", settings.ami.secret_file),
        ("alerts.webhook_secret_file", settings.alerts.webhook_secret_file),
        ("menu.file", settings.menu.file),
        ("calendar.schedule_file", settings.calendar.schedule_file),
    ):
        if file is not None and (message := _unreadable(file)):
            yield problem(key, f"{file}: {message}")
    secret = settings.ami.secret_file
    if secret is not None and not _unreadable(secret) and not secret.read_text("utf-8").strip():
        yield problem("ami.secret_file", f"{secret} is empty")
    if settings.alerts.webhook_url and not _unreadable_or_none(settings.alerts.webhook_secret_file):
        try:
            settings.alerts.webhook_key()
        except ValueError as exc:
            yield problem("alerts.webhook_secret", str(exc))
    for key, zone in (
        ("callback.timezone", settings.callback.timezone),
        ("tracking.timezone", settings.tracking.timezone),
    ):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            yield problem(key, f"unknown time zone {zone!r} (e.g. Asia/Shanghai)")
    yield from _menu_and_calendar(settings, problem)
    yield from _dispatch_policy(settings, problem)


def _database(settings: Settings, problem) -> Iterator[Problem]:  # type: ignore[no-untyped-def]
    from ivr.db.engine import normalize_url, sqlite_file

    example = "postgresql+asyncpg://user:password@host/database or sqlite+aiosqlite:///path/ivr.db"
    try:
        url = normalize_url(settings.database.url)
        path = sqlite_file(url)
    except Exception:  # a URL SQLAlchemy cannot parse (not echoed: it may hold a password)
        yield problem("database.url", f"not a database URL: write {example}")
        return
    driver = url.drivername
    if driver not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
        yield problem(
            "database.url",
            f"{driver} is not a driver the bridge uses: write {example}"
            if "+" in driver
            else f"{driver}:// is not a database the bridge opens: write {example}",
        )
        return
    if path is not None and not path.parent.is_dir():
        yield problem(
            "database.url",
            f"the SQLite file's folder {path.parent} does not exist: create it "
            f"(mkdir -p {path.parent}) or correct the path",
        )
    spool = settings.database.spool_file
    if spool is not None and not spool.parent.is_dir():
        yield problem(
            "database.spool_file",
            f"its folder {spool.parent} does not exist: create it (mkdir -p {spool.parent}) "
            "or correct the path",
        )


def _menu_and_calendar(settings: Settings, problem) -> Iterator[Problem]:  # type: ignore[no-untyped-def]
    from ivr.calendar_cn import load_calendar
    from ivr.domain.holidays import ScheduleError
    from ivr.domain.menu import MenuError
    from ivr.menu_file import load_menu

    menu = settings.menu.file
    if menu is None or not _unreadable(menu):
        try:
            load_menu(menu)
        except MenuError as exc:
            yield problem("menu.file", str(exc))
    schedule = settings.calendar.schedule_file
    if schedule is not None and not _unreadable(schedule):
        try:
            load_calendar(schedule)
        except ScheduleError as exc:
            yield problem(
                "calendar.schedule_file", str(exc).removeprefix("calendar.schedule_file ")
            )


def _dispatch_policy(settings: Settings, problem) -> Iterator[Problem]:  # type: ignore[no-untyped-def]
    from ivr.app import dispatch_policy

    try:
        dispatch_policy(settings.dispatch)
    except ValueError as exc:
        yield problem("dispatch", str(exc))


def _unreadable(path: Path) -> str | None:
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a file"
    if not os.access(path, os.R_OK):
        return "not readable by this user"
    return None


def _unreadable_or_none(path: Path | None) -> str | None:
    return None if path is None else _unreadable(path)


def run_check(path: Path | None) -> int:
    """Print every problem (or that the file is fine); 1 if there is any."""
    problems = check_settings(path)
    for found in problems:
        print(found)
    if problems:
        print(f"{len(problems)} problem(s)")
        return 1
    name = str(path) if path is not None else os.environ.get("IVR_CONFIG") or "(defaults)"
    print(f"{name}: OK")
    return 0
