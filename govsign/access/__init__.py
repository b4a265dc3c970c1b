"""People and permissions: accounts, administrators, tokens, dual control and the trusted certificates."""
