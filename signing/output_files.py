"""Writing a signed document where people will read it: all of it or nothing.

A signature's output appears under its name only once it is complete and on disk (a temporary file beside
the target, flushed, then renamed over it), so a crash, a refusal or a time limit in the middle leaves
the target as it was, and a batch resumed after a crash finds at most half-written temporary files
(``.NAME.*.partial``) to clear.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_atomically"]


def write_atomically(target: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(stream)`` on a temporary file beside ``target``, then rename it over ``target``; the
    file gets the mode the process's umask gives a new file (0644 under 022), as any other tool's output."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        os.fchmod(descriptor, 0o666 & ~_umask())  # mkstemp's 0600 would outlive the rename
        with os.fdopen(descriptor, "w+b") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only be read by setting it, which
    would race with other threads creating files)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    return 0o022
