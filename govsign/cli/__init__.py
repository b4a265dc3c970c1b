"""The `govsign` command line: one module per command group; main.py holds the root app and the exit codes."""
