"""L2: persistence (SQLAlchemy 2 + Alembic). ORM rows never leave this package:
repositories return plain dataclasses."""
