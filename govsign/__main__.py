"""`python -m govsign` runs the CLI."""

from govsign.cli import main

main()
