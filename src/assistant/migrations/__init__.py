"""Alembic migrations of the question log's database (questionlog.py runs them at start)."""
