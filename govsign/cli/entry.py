"""The `govsign` console script. `govsign serve` starts without importing the rest of the CLI.

The full CLI imports the CA, signing, validation and pyHanko: about two seconds of CPU, which a server's
start paid for nothing (uvicorn's workers import the application themselves) before it could spawn them.
With two busy cores that pushed a 2-worker server past ten seconds to readiness. Every other command goes
to :func:`govsign.cli.main.main` as before.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        from govsign.cli.serve import serve_command

        serve_command()
        return
    from govsign.cli.main import main as full_cli

    full_cli()
