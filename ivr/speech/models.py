"""Installing a vosk model from its archive: checksum first, then a safe unpack.

The production model (vosk-model-small-cn-0.22) is downloaded by the site, not by us; this
checks the archive against the SHA-256 the site recorded when it obtained it, refuses archive
entries that would land outside the target, and insists on a *dynamic* graph (``graph/HCLr.fst``
+ ``graph/Gr.fst``): the big models have a static HCLG.fst, on which vosk ignores grammars.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from ivr.speech.asr import find_model_dir

DYNAMIC_GRAPH = ("graph/HCLr.fst", "graph/Gr.fst")


class ModelInstallError(RuntimeError):
    """The archive is not the expected model; nothing was installed."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_dynamic_graph(model_dir: Path) -> None:
    missing = [name for name in DYNAMIC_GRAPH if not (model_dir / name).is_file()]
    if missing:
        raise ModelInstallError(
            f"{model_dir} has no {', '.join(missing)}: a model with a static graph cannot use "
            "grammars; install a small model (vosk-model-small-*)"
        )


def install_model(archive: Path, sha256: str, target: Path, replace: bool = False) -> Path:
    """Unpack ``archive`` (a .zip) into ``target`` if its SHA-256 is ``sha256``; the model dir."""
    expected = sha256.strip().lower()
    actual = sha256_of(archive)
    if not hmac.compare_digest(actual, expected):
        raise ModelInstallError(f"{archive}: SHA-256 is {actual}, expected {expected}")
    if target.exists() and not replace:
        raise ModelInstallError(f"{target} exists (pass --replace to overwrite it)")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                parts = PurePosixPath(name).parts
                if name.startswith("/") or ".." in parts or "\\" in name:
                    raise ModelInstallError(f"{archive}: unsafe entry {name!r}")
            zf.extractall(staging)
        model = find_model_dir(staging)
        check_dynamic_graph(model)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        model.rename(target)
    except zipfile.BadZipFile as exc:
        raise ModelInstallError(f"{archive}: not a zip archive ({exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
