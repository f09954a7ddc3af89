"""Engine creation and schema migration.

SQLite runs in WAL mode with foreign keys on; PostgreSQL uses psycopg 3.
Migrations are applied by ``hotline init`` and at start-up.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database"]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self._sessions()

    def _alembic_config(self) -> Config:
        cfg = Config()
        location = resources.files("hotline.store") / "migrations"
        cfg.set_main_option("script_location", str(location))
        return cfg

    def head_revision(self) -> str | None:
        """The newest revision(s) of the code, comma-joined when branches are open."""
        heads = ScriptDirectory.from_config(self._alembic_config()).get_heads()
        return ",".join(sorted(heads)) or None

    def current_revision(self) -> str | None:
        """The revision(s) the database is at, in the same form as :meth:`head_revision`."""
        with self.engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
        return ",".join(sorted(heads)) or None

    def is_initialised(self) -> bool:
        """True when the schema exists (any revision applied)."""
        return "alembic_version" in inspect(self.engine).get_table_names()

    def migrate(self) -> None:
        """Bring the schema up to the newest revision."""
        cfg = self._alembic_config()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")

    def dispose(self) -> None:
        self.engine.dispose()
