"""Loading the menu tree from its TOML file (the I/O half of :mod:`ivr.domain.menu`)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from ivr.domain.menu import MenuError, MenuTree


def load_menu(path: Path | None = None) -> MenuTree:
    """The menu at ``path``, or the packaged 95598 menu. Raises MenuError naming the file."""
    try:
        if path is None:
            raw = resources.files("ivr.data").joinpath("menu_95598.toml").read_bytes()
            name = "ivr/data/menu_95598.toml"
        else:
            raw = path.read_bytes()
            name = str(path)
        return MenuTree.from_dict(tomllib.loads(raw.decode("utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MenuError(f"{name}: not valid TOML: {exc}") from exc
    except MenuError as exc:
        raise MenuError(f"{name}: {exc}") from exc
