"""The README and docs/ stay usable: a short README, links that lead somewhere, and a
configuration reference that names every settings key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.config import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# pages other branches write (architecture, SIP trunk and phones): linked before they land
WRITTEN_ELSEWHERE = {"docs/architecture.md", "docs/sip.md", "docs/seats.md"}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def test_the_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans: `[globals](+)` is dialplan, not a link
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, file:, mailto:
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        name = str(file.relative_to(ROOT)) if file.is_relative_to(ROOT) else str(file)
        if name in WRITTEN_ELSEWHERE:
            continue
        assert file.exists(), f"{page.name}: {target}"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file), f"{page.name}: {target}"


def test_the_configuration_reference_names_every_key() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for section, field in Settings.model_fields.items():
        assert f"## `[{section}]`" in text, section
        for key in field.annotation.model_fields:  # type: ignore[union-attr]
            assert f"`IVR_{section.upper()}__{key.upper()}`" in text, f"{section}.{key}"


def test_no_page_points_outside_the_repository() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text and "DOMAIN.md" not in text, page.name


# notes kept outside the repository, which a reader of it does not have
OUTSIDE = re.compile(r"DESIGN\.md|DOMAIN\.md|\.\./shared|/work/shared")
SOURCE_DIRS = ("ivr", "ivr_sandbox", "tests", "bench", "scripts", "agi_scripts", "asterisk_conf")


def test_no_code_comment_or_script_points_outside_the_repository() -> None:
    """What the code relies on is written in docs/ (docs/sandbox.md, docs/standard.md)."""
    files = [ROOT / name for name in ("README.md", "pyproject.toml", "ivr.example.toml")]
    for directory in SOURCE_DIRS:
        files += [p for p in (ROOT / directory).rglob("*") if p.is_file()]
    pointing = [
        str(path.relative_to(ROOT))
        for path in files
        if path != Path(__file__).resolve()
        and "__pycache__" not in path.parts
        and OUTSIDE.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert pointing == []
