"""Where the CLI prints, and how it writes a file a reader must never see half-written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console

__all__ = ["err", "out", "write_atomically"]

# Piped output (scripts, logs) gets a width that fits a 128-bit serial and a Vietnamese agency name.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)
