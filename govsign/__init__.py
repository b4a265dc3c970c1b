"""The faces of govsign: the HTTP API, the CLI, accounts and configuration."""
