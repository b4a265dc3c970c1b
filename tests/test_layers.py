"""The rooms' arrows hold: `lint-imports` (pyproject's [tool.importlinter]) passes on the tree and fails,
naming the contract, when a lower room imports a higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure

PROJECT = Path(__file__).resolve().parent.parent
LAYERS = "Layers: faces -> http -> errors -> config -> db -> access -> signing -> ca"
# The installed `lint-imports` script does just this; run through this interpreter it needs no PATH.
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the packages under ``root`` (first on the path), with ``root``'s pyproject.toml."""
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = _lint_imports(PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_ca_module_importing_the_cli_breaks_the_layers(tmp_path: Path) -> None:
    for package in ("ca", "signing", "govsign"):
        shutil.copytree(PROJECT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", tmp_path)
    errors = tmp_path / "ca" / "errors.py"
    errors.write_text(errors.read_text() + "\nimport govsign.cli  # the wrong arrow\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{LAYERS} BROKEN" in " ".join(result.stdout.split())
    assert "ca.errors -> govsign.cli" in result.stdout
