"""`python -m govsign` runs the CLI."""

from govsign.cli.main import main

main()
