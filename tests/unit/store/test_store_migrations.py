"""The Alembic migrations build exactly the schema the ORM models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hotline.store.db import Database
from hotline.store.models import Base


def test_migrations_match_models(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        assert not db.is_initialised()
        db.migrate()
        assert db.is_initialised()
        assert db.current_revision() == db.head_revision()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        db.migrate()  # idempotent
        assert db.current_revision() == db.head_revision()
    finally:
        db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        with db.engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            fk = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
        assert mode == "wal"
        assert fk == 1
    finally:
        db.dispose()
