"""SoftHSM2 tokens for development, tests and the demo: created under the data folder, never system-wide.

A production HSM's tokens are created with the vendor's tools; this module only ever runs ``softhsm2-util``.
The configuration is rendered from ``hsm_config/softhsm2.conf`` so that the token folder lives under
``GOVSIGN_HOME``. PINs are passed on softhsm2-util's command line, acceptable for a software token on a
developer machine and one more reason not to use SoftHSM2 in production.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ca.errors import ConfigurationError

__all__ = ["provision_token", "render_configuration", "token_exists"]


def render_configuration(template: Path, target: Path, token_dir: Path) -> None:
    """Write ``target`` from ``template`` with ``token_dir`` as SoftHSM2's token folder, unless it exists."""
    token_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(template.read_text().replace("@TOKEN_DIR@", str(token_dir.resolve())))


def _softhsm_util(configuration: Path, *arguments: str) -> str:
    executable = shutil.which("softhsm2-util")
    if executable is None:
        raise ConfigurationError("softhsm2-util not found: install Debian's softhsm2 (./scripts/run.sh does)")
    result = subprocess.run(
        [executable, *arguments],
        env={**os.environ, "SOFTHSM2_CONF": str(configuration)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigurationError(f"softhsm2-util {arguments[0]} failed: {result.stderr.strip()}")
    return result.stdout


def token_exists(configuration: Path, label: str) -> bool:
    slots = _softhsm_util(configuration, "--show-slots")
    return any(line.split(":", 1)[1].strip() == label for line in slots.splitlines() if "Label:" in line)


def provision_token(configuration: Path, label: str, user_pin: str, so_pin: str) -> None:
    """Initialise a new token ``label`` in the next free slot; refuse if one by that label exists."""
    if token_exists(configuration, label):
        raise ConfigurationError(f"a SoftHSM2 token labelled {label!r} exists already")
    _softhsm_util(
        configuration, "--init-token", "--free", "--label", label, "--pin", user_pin, "--so-pin", so_pin
    )
