"""`python -m govsign` runs the CLI (as the console script does: `serve` without the rest of it)."""

from govsign.cli.entry import main

main()
