"""The import-linter contracts hold, and they do catch violations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "src" / "hotline", tmp_path / "src" / "hotline")
    shutil.copy(REPO / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_contracts_hold_on_the_real_tree(package_copy: Path) -> None:
    result = _lint(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


@pytest.mark.parametrize("target", ["sip", "acd", "media", "core"])
def test_a_core_importing_asyncio_or_sqlalchemy_is_caught(package_copy: Path, target: str) -> None:
    bad = REPO / "tests" / "fixtures" / "layer_violation" / "bad_core.py"
    shutil.copy(bad, package_copy / "src" / "hotline" / target / "bad_core.py")
    result = _lint(package_copy)
    assert result.returncode != 0
    assert f"hotline.{target}.bad_core -> sqlalchemy" in result.stdout
    if target != "core":
        assert f"hotline.{target}.bad_core -> asyncio" in result.stdout


def test_a_lower_layer_importing_an_upper_one_is_caught(package_copy: Path) -> None:
    bad = REPO / "tests" / "fixtures" / "layer_violation" / "bad_layer.py"
    shutil.copy(bad, package_copy / "src" / "hotline" / "store" / "bad_layer.py")
    result = _lint(package_copy)
    assert result.returncode != 0
    assert "hotline.store.bad_layer -> hotline.web.ops" in result.stdout
