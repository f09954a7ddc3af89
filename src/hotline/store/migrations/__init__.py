"""Alembic migrations of the Hotline 122 schema."""
