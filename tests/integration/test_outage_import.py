"""``ivr customers import`` and ``ivr outages import`` on real files and a real database: every
good row is kept, each bad one is named by its line, an unusable file changes nothing, and the
exit code says which (0, 1, 2)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from ivr.db.engine import create_engine
from ivr.db.outages import SqlCustomers, SqlOutages
from ivr.domain.outages import OutageState
from ivr.flows.inbound import utc_now


def ivr(db: Path, *args: str) -> tuple[int, str, str]:
    env = os.environ | {"IVR_DATABASE__URL": f"sqlite+aiosqlite:///{db}"}
    done = subprocess.run(
        [sys.executable, "-m", "ivr", *args], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stdout, done.stderr


async def stored(db: Path) -> tuple[list[str], list[tuple[str | None, str]]]:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        customers = await SqlCustomers(engine, utc_now).list(limit=100)
        outages = await SqlOutages(engine, None, utc_now).list(limit=100)
        refs = [(o.cause, o.state.value) for o in outages]
        return [c.account_no for c in customers], refs  # type: ignore[return-value]
    finally:
        await engine.dispose()


CUSTOMERS = (
    "户号,户名,联系电话,用电地址,供电区域,线路\n"
    "1000000001,王芳,13800000001,幸福路1号,幸福小区,\n"
    "1000000002,李雷,13800000099x,东路2号,东城,10kV城东线\n"
    "1000000003,韩梅,13900000002;13900000003,西路3号,西城,10kV城西线\n"
)
SCHEDULE = (
    "计划编号,停电区域,停电线路,停电时间,预计送电时间,停电原因\n"
    "2026-W49-1,幸福小区,,2026-12-06 08:00,2026-12-06 18:00,计划检修\n"
    "2026-W49-2,东城,,2026-12-06 18:00,2026-12-06 08:00,计划检修\n"
)


def test_a_customer_file_with_a_bad_row_keeps_the_rest_and_names_the_line(tmp_path: Path) -> None:
    db, csv = tmp_path / "ivr.db", tmp_path / "customers.csv"
    csv.write_text(CUSTOMERS, encoding="utf-8")
    code, out, err = ivr(db, "customers", "import", str(csv))
    assert code == 1, err
    assert "line 3:" in err and "13800000099" not in err  # named, and the number masked
    assert "2 customers imported, 1 rows refused" in out
    accounts, _ = asyncio.run(stored(db))
    assert accounts == ["1000000001", "1000000003"]
    csv.write_text(CUSTOMERS.replace("13800000099x", "13800000099"), encoding="utf-8")
    code, out, _ = ivr(db, "customers", "import", str(csv))  # the next export: an upsert
    assert code == 0 and "3 customers imported, 0 rows refused" in out


def test_an_unusable_file_imports_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ivr.db"
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    code, _, err = ivr(db, "customers", "import", str(wrong))
    assert code == 2 and "the header lacks" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes(CUSTOMERS.encode("gbk"))
    code, _, err = ivr(db, "customers", "import", str(latin))
    assert code == 2 and "not UTF-8" in err
    code, _, err = ivr(db, "outages", "import", str(tmp_path / "missing.csv"))
    assert code == 2
    code, _, _ = ivr(db, "customers", "import", str(tmp_path / "missing.csv"))
    assert code == 2


def test_the_weekly_schedule_is_imported_once_however_often_it_is_read(tmp_path: Path) -> None:
    db, csv = tmp_path / "ivr.db", tmp_path / "schedule.csv"
    csv.write_text(SCHEDULE, encoding="utf-8")
    code, out, err = ivr(db, "outages", "import", str(csv))
    assert code == 1 and "line 3: expected restoration must come after the start" in err
    assert "1 outages created, 0 updated, 0 unchanged, 1 rows refused" in out
    code, out, _ = ivr(db, "outages", "import", str(csv))
    assert "0 outages created, 0 updated, 1 unchanged" in out
    csv.write_text(SCHEDULE.replace("计划检修\n2026", "线路改造\n2026", 1), encoding="utf-8")
    code, out, _ = ivr(db, "outages", "import", str(csv))
    assert "0 outages created, 1 updated, 0 unchanged" in out
    _, outages = asyncio.run(stored(db))
    assert outages == [("线路改造", OutageState.OPEN.value)]
