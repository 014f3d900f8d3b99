"""``ivr``: run the bridge, the demo, the Asterisk sandbox, migrations, prompt rendering, the
working-day calendar, and check a settings file."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ivr import logging_setup
from ivr.config import Settings, StartupError, load_settings
from ivr.domain.access import Role


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__)
    parser.add_argument("--config", type=Path, help="settings TOML (default: $IVR_CONFIG)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="show the traceback of a failure (for a bug report)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bridge: FastAGI server and web app")
    demo = commands.add_parser("demo", help="sandbox + bridge + simulated agents and callers")
    demo.add_argument("--calls", type=int, default=8, help="how many simulated callers")
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep running afterwards and print the workspace's and dashboard's URLs and tokens",
    )
    sandbox = commands.add_parser("sandbox", help="the local Asterisk for demos and tests")
    sandbox.add_argument("action", choices=["up", "down", "status"])
    sandbox.add_argument(
        "--instance",
        default="",
        metavar="LETTER",
        help="a second Asterisk from the same root (b … j: its own ports, AMI user, dirs)",
    )
    asterisk = commands.add_parser("asterisk", help="Asterisk configuration from our settings")
    asterisk_cmd = asterisk.add_subparsers(dest="action", required=True)
    render = asterisk_cmd.add_parser(
        "render-config", help="write pjsip_trunk.conf and extensions_trunk.conf from [sip]"
    )
    render.add_argument("directory", type=Path, help="e.g. /etc/asterisk")
    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    prompts = commands.add_parser("prompts", help="render every menu prompt ahead of time")
    prompts.add_argument("action", choices=["render"])
    token = commands.add_parser("token", help="API tokens (shown once, stored hashed)")
    token.add_argument("action", choices=["create", "rotate", "revoke", "list"])
    token.add_argument("--name", help="who the token is for (create, rotate, revoke)")
    token.add_argument("--role", choices=[r.value for r in Role], help="(create)")
    token.add_argument("--job-number", help="an agent's 工号 (create, role agent)")
    token.add_argument(
        "--days", type=int, default=90, help="how long the new secret lives (create, rotate)"
    )
    token.add_argument(
        "--grace-hours",
        type=int,
        default=0,
        help="how long the old secret still works after a rotation (0 to 720)",
    )
    seat = commands.add_parser("seat", help="agents' SIP seats (secret shown once, stored hashed)")
    seat.add_argument("action", choices=["add", "remove", "list", "sync"])
    seat.add_argument("name", nargs="?", help="the seat: 1-32 letters and digits (add, remove)")
    seat.add_argument("--by", default="ivr seat (cli)", help="who is recorded as adding it")
    for register, what in (
        ("customers", "the customer register from the marketing system's CSV export"),
        ("outages", "the weekly planned-outage schedule (CSV)"),
    ):
        parser_ = commands.add_parser(register, help=what)
        parser_.add_argument("action", choices=["import"])
        parser_.add_argument("file", type=Path, help="a UTF-8 CSV file (docs/storm-days.md)")
        parser_.add_argument("--by", default="ivr import (cli)", help="recorded as the author")
    speech = commands.add_parser("speech", help="the vosk model and grammars")
    speech_cmd = speech.add_subparsers(dest="action", required=True)
    install = speech_cmd.add_parser("install-model", help="check a model archive and unpack it")
    install.add_argument("archive", type=Path, help="e.g. vosk-model-small-cn-0.22.zip")
    install.add_argument("--sha256", required=True, help="the archive's expected SHA-256")
    install.add_argument("--replace", action="store_true", help="overwrite an installed model")
    speech_cmd.add_parser("check", help="load the model and check every grammar word against it")
    calendar = commands.add_parser("calendar", help="the working-day calendar")
    calendar_cmd = calendar.add_subparsers(dest="action", required=True)
    calendar_cmd.add_parser("years", help="the years known, where each comes from, disagreements")
    calendar_cmd.add_parser(
        "recompute", help="recompute open provisional deadlines whose year is now known"
    )
    config = commands.add_parser("config", help="the settings file")
    config_cmd = config.add_subparsers(dest="action", required=True)
    check = config_cmd.add_parser("check", help="validate it and list every problem at once")
    check.add_argument("--config", dest="check_file", type=Path, help="(default: $IVR_CONFIG)")
    args = parser.parse_args(argv)

    logging_setup.configure(args.log_level)
    if args.command == "config":  # before load_settings: a bad file is what it reports
        from ivr.config_check import run_check

        logging_setup.configure("WARNING")  # only the problems, one per line

        return run_check(args.check_file or args.config)
    if args.command in _NEED_GOOD_SETTINGS:
        from ivr.config_check import check_settings

        problems = check_settings(args.config)
        for problem in problems:  # one line each, naming the file (or variable) and the key
            print(f"error: {problem}", file=sys.stderr)
        if problems:
            return 2
    try:
        return _command(args)
    except StartupError as exc:
        if args.traceback:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.traceback:
            raise
        if problem := _database_problem(args, exc):
            print(f"error: {problem}", file=sys.stderr)
            return 2
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        print(f"error: {reason} (ivr --traceback … shows where)", file=sys.stderr)
        return 1


# Commands that open the database or start the bridge: their settings are checked first, and
# every problem is reported as one line (as ``ivr config check`` does), exit 2.
_NEED_GOOD_SETTINGS = ("run", "db", "token", "seat", "calendar", "prompts")


# Commands that open the database and so fail at once when it cannot be reached (the bridge
# itself serves calls on and retries).
_OPEN_THE_DATABASE = ("db", "token", "seat", "calendar", "customers", "outages")


def _database_problem(args: argparse.Namespace, exc: Exception) -> str | None:
    """One line naming database.url, where it was set and where it points, for a database
    that is down, unknown or refuses the login; None for any other failure."""
    if args.command not in _OPEN_THE_DATABASE:
        return None
    from ivr.app import database_place
    from ivr.db.unreachable import unreachable_reason

    reason = unreachable_reason(exc)
    if reason is None:
        return None
    where = database_place(load_settings(args.config).database.url)
    return str(StartupError("database.url", f"{where}: {reason}"))


def _command(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.command == "run":
        from ivr.app import serve
        from ivr.db.instance_lock import InstanceLockError

        try:
            asyncio.run(serve(settings))
        except InstanceLockError as exc:  # a second bridge on one SQLite or spool file
            print(f"error: {exc}", file=sys.stderr)
            return 1
    elif args.command == "demo":
        from ivr_sandbox.demo import run_demo

        return asyncio.run(run_demo(settings, args.calls, args.serve))
    elif args.command == "sandbox":
        from ivr_sandbox.asterisk import AsteriskSandbox

        box = AsteriskSandbox.from_settings(settings, instance=args.instance)
        if args.action == "up":
            with box.exclusive():  # up() installs this checkout's config: not under a live run
                ami = box.up()
            print(f"Asterisk sandbox up; AMI {ami.host}:{ami.port} as {ami.username}")
        elif args.action == "down":
            with box.exclusive():
                box.down()
            print("Asterisk sandbox stopped")
        else:
            print(json.dumps(box.status(), indent=2, default=str))
    elif args.command == "asterisk":
        return _render_config(settings, args.directory)
    elif args.command == "db":
        print(asyncio.run(_upgrade(settings.database.url)))
    elif args.command == "prompts":
        asyncio.run(_render_prompts(settings))
    elif args.command == "token":
        return asyncio.run(_tokens(settings, args))
    elif args.command == "speech":
        return _speech(settings, args)
    elif args.command == "seat":
        return asyncio.run(_seats(settings, args))
    elif args.command in ("customers", "outages"):
        return _import(settings, args.command, args.file, args.by)
    elif args.command == "calendar":
        return _calendar(settings, args.action)
    return 0


async def _upgrade(url: str) -> str:
    """Migrate; one line saying where the database is and at which revision it now is."""
    from ivr.app import database_place
    from ivr.db.migrate import current_revision, upgrade

    before = await current_revision(url)
    await upgrade(url)
    after = await current_revision(url)
    where = database_place(url)
    if before == after:
        return f"database {where} at revision {after}: already up to date"
    return f"database {where} at revision {after} (was {before or 'empty'})"


def _render_config(settings: Settings, directory: Path) -> int:
    """Write the generated includes (atomically: Asterisk never reads half a file)."""
    import os

    from ivr.asterisk.sip_config import RenderError, render_sip_config

    try:
        rendered = render_sip_config(settings.sip)
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not directory.is_dir():
        print(f"error: {directory} is not a directory", file=sys.stderr)
        return 1
    for name, text in rendered.files.items():
        target = directory / name
        partial = target.with_name(f".{name}.new")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(partial, target)
        print(target)
    print("then: asterisk -rx 'core reload'", file=sys.stderr)
    return 0


def _calendar(settings: Settings, action: str) -> int:
    from ivr.calendar_cn import load_calendar
    from ivr.domain.holidays import ScheduleError

    try:
        calendar = load_calendar(settings.calendar.schedule_file)
    except ScheduleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if action == "years":
        differ = calendar.disagreements()
        for year, source in calendar.sources().items():
            days = differ.get(year, [])
            note = f"  (differs from the package on {len(days)} day(s): site file used)"
            print(f"{year}\t{source}{note if days else ''}")
        return 0
    return asyncio.run(_recompute(settings, calendar.is_workday))


async def _recompute(settings: Settings, is_workday) -> int:  # type: ignore[no-untyped-def]
    from ivr.app import warning_policy
    from ivr.db.engine import create_engine
    from ivr.db.migrate import upgrade
    from ivr.db.recompute import SqlDeadlineRecompute
    from ivr.flows.inbound import utc_now
    from ivr.services.calendar import recompute_provisional

    await upgrade(settings.database.url)
    engine = create_engine(settings.database.url)
    try:
        store = SqlDeadlineRecompute(engine, is_workday, warning_policy(settings.alerts), utc_now)
        result = await recompute_provisional(store)
    finally:
        await engine.dispose()
    print(
        f"{result.checked} order(s) with provisional deadlines; {result.deadlines} deadline(s) "
        f"of {result.orders} order(s) recomputed, {result.exact} now exact; "
        f"{result.superseded} alert(s) superseded"
    )
    return 0


def _speech(settings, args) -> int:  # type: ignore[no-untyped-def]
    from ivr.domain.speech import GrammarError
    from ivr.speech.asr import ModelMissing, VoskRecognizer
    from ivr.speech.grammars import default_grammar_dir, load_grammars
    from ivr.speech.models import ModelInstallError, check_dynamic_graph, install_model

    target = settings.speech.model_dir
    try:
        if args.action == "install-model":
            path = install_model(args.archive, args.sha256, target, args.replace)
            print(f"model installed in {path} (checksum matched, dynamic graph present)")
            return 0
        grammars = load_grammars(settings.speech.grammar_dir or default_grammar_dir())
        recognizer = VoskRecognizer(target)
        check_dynamic_graph(recognizer.model_dir)
        recognizer.load()
        recognizer.prepare(grammars)
    except (ModelInstallError, ModelMissing, GrammarError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    words = sum(len(g.words()) for g in grammars.values())
    print(f"{recognizer.model_dir}: {len(grammars)} grammars, {words} words, all in the vocabulary")
    return 0


def _import(settings: Settings, register: str, path: Path, by: str) -> int:
    """Import a CSV: 0 every row taken, 1 some rows refused (each named by its line, the rest
    taken), 2 the file is unusable (nothing taken)."""
    from zoneinfo import ZoneInfo

    from ivr.domain.outage_files import UnusableFile, parse_customers, parse_schedule
    from ivr.domain.privacy import mask_numbers_in

    try:
        text = path.read_bytes().decode("utf-8")
        if register == "customers":
            parsed: Any = parse_customers(text)
        else:
            parsed = parse_schedule(text, ZoneInfo(settings.tracking.timezone))
    except (OSError, UnicodeDecodeError, UnusableFile) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        print(f"error: {path}: {mask_numbers_in(reason)}; nothing imported", file=sys.stderr)
        return 2
    for problem in parsed.problems:
        print(f"{path}: line {problem.line}: {mask_numbers_in(problem.reason)}", file=sys.stderr)
    rows = [value for _line, value in parsed.rows]
    print(asyncio.run(_store_import(settings, register, rows, by)), end="")
    print(f", {len(parsed.problems)} rows refused")
    return 1 if parsed.problems else 0


async def _store_import(settings: Settings, register: str, rows: list[Any], by: str) -> str:
    from ivr.db.engine import create_engine
    from ivr.db.migrate import upgrade
    from ivr.db.outages import SqlCustomers, SqlOutages

    await upgrade(settings.database.url)
    engine = create_engine(settings.database.url)
    try:
        if register == "customers":
            count = await SqlCustomers(engine, _utc_now).upsert(rows)
            return f"{count} customers imported"
        outages = SqlOutages(engine, None, _utc_now)  # an import closes no orders
        created, updated, unchanged = await outages.import_schedule(rows, by)
        return f"{created} outages created, {updated} updated, {unchanged} unchanged"
    finally:
        await engine.dispose()


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def _tokens(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.db.engine import create_engine
    from ivr.db.migrate import upgrade
    from ivr.db.tokens import SqlTokenStore, TokenError

    await upgrade(settings.database.url)
    engine = create_engine(settings.database.url)
    store = SqlTokenStore(engine)
    try:
        if args.action == "list":
            now = datetime.now(UTC)
            print("name\trole\tjob number\tstate\texpires\tlast used")
            for info in await store.list():
                expired = info.expires_at is not None and info.expires_at <= now
                state = "revoked" if info.revoked_at else "expired" if expired else "live"
                print(
                    f"{info.name}\t{info.role.value}\t{info.job_number or '-'}\t{state}"
                    f"\t{_when(info.expires_at)}\t{_when(info.last_used_at)}"
                )
            return 0
        if not args.name:
            print("--name is required", file=sys.stderr)
            return 2
        if args.action == "revoke":
            found = await store.revoke(args.name)
            print("revoked" if found else "no live token of that name", file=sys.stderr)
            return 0 if found else 1
        try:
            lifetime = timedelta(days=args.days)
            if args.action == "rotate":
                grace = timedelta(hours=args.grace_hours)
                print(await store.rotate(args.name, grace, lifetime))
                print(
                    f"new token for {args.name}, valid {args.days} days; the old one works "
                    f"{args.grace_hours} h more. Shown once, stored hashed: copy it now",
                    file=sys.stderr,
                )
                return 0
            if not args.role:
                print("--role is required", file=sys.stderr)
                return 2
            print(await store.create(args.name, Role(args.role), args.job_number, lifetime))
            print(
                f"token for {args.name} (role {args.role}), valid {args.days} days. "
                "Shown once, stored hashed: copy it now",
                file=sys.stderr,
            )
        except (TokenError, OverflowError) as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    finally:
        await engine.dispose()


async def _seats(settings: Settings, args: argparse.Namespace) -> int:
    """The seats service as the API runs it, acting as an admin (whoever may run this command
    on the host may read the settings' secrets anyway)."""
    from ivr.app import seat_service
    from ivr.db.engine import create_engine
    from ivr.db.migrate import upgrade
    from ivr.domain.access import Principal
    from ivr.services.seats import SeatError

    await upgrade(settings.database.url)
    engine = create_engine(settings.database.url)
    seats = seat_service(settings.seats, engine)
    who = Principal(args.by[:64], Role.ADMIN)
    try:
        if args.action == "list":
            listed = await seats.list(who)
            for seat in listed:
                print(f"{seat.name}\t{seat.created_at.isoformat()}\t{seat.created_by}")
            if not listed:  # stdout stays empty for scripts; a person is told why
                print("no seats yet: add one with `ivr seat add <name>`", file=sys.stderr)
        elif args.action == "sync":
            print(f"{await seats.sync()} seat(s) written and reloaded")
        elif not args.name:
            print("a seat name is required", file=sys.stderr)
            return 2
        elif args.action == "add":
            new = await seats.add(who, args.name)
            print(f"seat {new.seat.name} added: device {new.seat.device}")
            print(f"username {new.seat.name}  realm {new.realm}")
            print(f"secret {new.secret}")
            print("(shown once, stored nowhere: enter it in the phone now)", file=sys.stderr)
        else:
            await seats.remove(who, args.name)
            print(f"seat {args.name} removed")
        return 0
    except SeatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if exc.status >= 500 else 2
    finally:
        await engine.dispose()


async def _render_prompts(settings: Settings) -> None:
    from ivr.menu_file import load_menu
    from ivr.speech.prompts import PromptCache

    cache = PromptCache.from_settings(settings.speech)
    try:
        rendered = await cache.prerender(sorted(load_menu(settings.menu.file).prompt_texts()))
    finally:
        await cache.close()
    for text, path in rendered.items():
        print(f"{path}.wav  {text}")


if __name__ == "__main__":
    sys.exit(main())


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
