"""Storage: engine and sessions, table metadata, Alembic migrations."""
