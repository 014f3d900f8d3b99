"""Classic (process-per-call) AGI inside the sandbox: Python in the root, and our script.

Asterisk's ``AGI(/path/script)`` runs a program *inside the chroot*, so the root needs an
interpreter and the libraries the script imports. The script (``agi_scripts/ivr_agi.py``) loads
only the menu flow, the AGI adapter and the call repository: SQLAlchemy, aiosqlite, Alembic
(``ivr.db`` imports it), pydantic(-settings) for the settings file and panoramisk's AGI parser,
all taken from Debian, and tenacity (pure Python, copied from this environment: see
``COPIED_LIBRARIES``). It needs none of aiohttp, vosk, pyttsx3 or asyncpg.

Installing packages into the root does not disturb a running Asterisk; callers hold the
sandbox's provisioning lock (``AsteriskSandbox.up`` does).
"""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import ivr
from ivr_sandbox.errors import SandboxError

# Runs a command inside the root (``AsteriskSandbox._chroot``); raises ``SandboxError``.
Chroot = Callable[..., subprocess.CompletedProcess[str]]

# Debian packages the classic script needs in the root (python3 comes with them).
PYTHON_PACKAGES = (
    "python3",
    "python3-sqlalchemy",
    "python3-aiosqlite",
    "python3-greenlet",
    "python3-alembic",
    "python3-pydantic",
    "python3-pydantic-settings",
    "python3-panoramisk",
)
# Import names matching PYTHON_PACKAGES: what "present" means.
PYTHON_MODULES = (
    "sqlalchemy",
    "aiosqlite",
    "greenlet",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "panoramisk",
)
# Where our package and the script live inside the root (AGI(INSTALL_DIR/agi_scripts/...)).
INSTALL_DIR = "/opt/ivr95598"
SCRIPT_IN_ROOT = f"{INSTALL_DIR}/agi_scripts/ivr_agi.py"
_PACKAGE_DIR = Path(ivr.__file__).resolve().parent  # the bridge's package, ivr/
_SCRIPT = _PACKAGE_DIR.parent / "agi_scripts" / "ivr_agi.py"
# Pure-Python libraries the script imports that the root's Debian python3 lacks: copied from
# this environment beside the package, so the shared root needs no apt run for them.
COPIED_LIBRARIES = ("tenacity",)
MARKER = ".ivr-classic-python"  # in the root: the import probe passed for these packages


def python_ready(root: Path) -> bool:
    """True if the root's python3 imports everything the classic script needs."""
    if not (root / "usr/bin/python3").exists():
        return False
    marker = root / MARKER
    if marker.is_file() and marker.read_text() == " ".join(PYTHON_PACKAGES):
        return True  # probed before: skip the half second of imports on every up()
    probe = "import " + ", ".join(PYTHON_MODULES)
    result = subprocess.run(
        ["chroot", str(root), "python3", "-c", probe],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"},
        check=False,
    )
    if result.returncode != 0:
        return False
    marker.write_text(" ".join(PYTHON_PACKAGES))
    return True


def ensure_python(root: Path, chroot: Chroot, say: Callable[[str], None] = print) -> None:
    """Install python3 and the script's libraries into the root with apt, when missing."""
    if python_ready(root):
        return
    say("installing python3 for classic AGI into the root (apt-get, once)")
    apt = ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get")
    install = (*apt, "install", "-y", "--no-install-recommends", *PYTHON_PACKAGES)
    try:  # debootstrap left package lists in the root: usually enough
        chroot(*install, timeout=900, what="apt-get install python3 for classic AGI")
    except SandboxError:
        # Stale lists: refresh. The mirror may serve a frozen snapshot whose Release file is
        # past its Valid-Until, as the host's own apt settings allow; do the same here.
        say("refreshing the root's package lists")
        no_expiry = ("-o", "Acquire::Check-Valid-Until=false", "-o", "Acquire::Check-Date=false")
        chroot(*apt, *no_expiry, "update", timeout=600)
        chroot(*install, timeout=900, what="apt-get install python3 for classic AGI")
    if not python_ready(root):
        raise SandboxError(f"python3 in {root} still lacks {PYTHON_MODULES}")


def install_script(root: Path) -> Path | None:
    """Copy our package's Python and data files, the ``COPIED_LIBRARIES`` and the classic
    script into the root.

    Returns the script's host path, or None when the script is not beside the package (an
    installed wheel ships no ``agi_scripts/``). Unchanged files are not rewritten.
    """
    if not _SCRIPT.is_file():
        return None
    target = root / INSTALL_DIR.lstrip("/")
    wanted: dict[Path, Path] = {target / "agi_scripts" / _SCRIPT.name: _SCRIPT}
    for source in _PACKAGE_DIR.rglob("*"):
        wanted_kind = source.suffix in (".py", ".toml", ".ini", ".mako")
        if wanted_kind and source.is_file() and "__pycache__" not in source.parts:
            wanted[target / "ivr" / source.relative_to(_PACKAGE_DIR)] = source
    for name in COPIED_LIBRARIES:
        library = Path(importlib.import_module(name).__file__ or "").resolve().parent
        for source in library.rglob("*.py"):
            if "__pycache__" not in source.parts:
                wanted[target / name / source.relative_to(library)] = source
    for existing in (target / "ivr").rglob("*.py") if (target / "ivr").exists() else ():
        if existing not in wanted:
            existing.unlink()  # a module removed from the package must not linger
    for dest, source in wanted.items():
        content = source.read_bytes()
        if dest.is_file() and dest.read_bytes() == content:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        tmp = dest.with_name(dest.name + ".new")
        tmp.write_bytes(content)
        tmp.chmod(0o755 if dest.suffix == ".py" and dest.parent.name == "agi_scripts" else 0o644)
        tmp.replace(dest)
    for directory in [target, *(p for p in target.rglob("*") if p.is_dir())]:
        directory.chmod(0o755)
    return target / "agi_scripts" / _SCRIPT.name
