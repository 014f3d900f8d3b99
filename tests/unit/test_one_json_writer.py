"""Every JSON answer of the web app goes through ``ivr/web/json_body.py`` (UTF-8 as is, the
centre's offset on every timestamp): a route written later with aiohttp's own
``web.json_response`` or a bare ``send_json`` would escape Chinese and keep UTC offsets."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "ivr" / "web"


def test_no_route_writes_json_but_through_json_body() -> None:
    offenders = []
    for source in sorted(WEB.glob("*.py")):
        if source.name == "json_body.py":
            continue
        for number, line in enumerate(source.read_text("utf-8").splitlines(), 1):
            if "web.json_response(" in line or re.search(r"send_json\((?!.*dumps=)", line):
                offenders.append(f"{source.name}:{number}: {line.strip()}")
    assert offenders == []
