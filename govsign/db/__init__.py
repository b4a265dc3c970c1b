"""The database schema's history: the Alembic environment and migrations in ``migrations/``.

They live inside the package, not beside it, so that an installed govsign (a wheel, no checkout) can
still bring its database to the newest schema with `govsign init` and `govsign db upgrade`.
"""
