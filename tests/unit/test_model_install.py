"""Installing a vosk model archive: checksum, safe unpacking, dynamic graph (fabricated zips)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from ivr.speech.models import ModelInstallError, install_model

MODEL_FILES = ["am/final.mdl", "conf/model.conf", "graph/HCLr.fst", "graph/Gr.fst"]


def make_zip(path: Path, names: list[str], top: str = "vosk-model-small-cn-0.22/") -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(top + name, b"x")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_good_archive_is_installed(tmp_path: Path) -> None:
    digest = make_zip(tmp_path / "m.zip", MODEL_FILES)
    target = tmp_path / "models" / "cn"
    assert install_model(tmp_path / "m.zip", digest.upper(), target) == target
    assert (target / "am" / "final.mdl").is_file() and (target / "graph" / "Gr.fst").is_file()
    assert [p.name for p in target.parent.iterdir()] == ["cn"]  # no staging left behind
    with pytest.raises(ModelInstallError, match="exists"):
        install_model(tmp_path / "m.zip", digest, target)
    install_model(tmp_path / "m.zip", digest, target, replace=True)


def test_a_wrong_checksum_installs_nothing(tmp_path: Path) -> None:
    make_zip(tmp_path / "m.zip", MODEL_FILES)
    with pytest.raises(ModelInstallError, match="SHA-256 is"):
        install_model(tmp_path / "m.zip", "0" * 64, tmp_path / "cn")
    assert not (tmp_path / "cn").exists()


def test_static_graph_and_unsafe_archives_are_refused(tmp_path: Path) -> None:
    static = ["am/final.mdl", "graph/HCLG.fst"]
    digest = make_zip(tmp_path / "big.zip", static)
    with pytest.raises(ModelInstallError, match="static graph"):
        install_model(tmp_path / "big.zip", digest, tmp_path / "cn")
    digest = make_zip(tmp_path / "evil.zip", ["../../etc/x"], top="")
    with pytest.raises(ModelInstallError, match="unsafe entry"):
        install_model(tmp_path / "evil.zip", digest, tmp_path / "cn")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    digest = hashlib.sha256(b"not a zip").hexdigest()
    with pytest.raises(ModelInstallError, match="not a zip"):
        install_model(tmp_path / "junk.zip", digest, tmp_path / "cn")
    assert not (tmp_path / "cn").exists()
