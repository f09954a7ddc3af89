"""pytest fixtures over the private PostgreSQL cluster of :mod:`support.postgres`.

Load with ``pytest_plugins = ["support.pg_fixtures"]`` in a test module:
``pg`` is one cluster per test module (its server log kept in pytest's tmp
dir), ``pg_db`` a fresh migrated database per test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hotline.store.db import Database
from support.postgres import PostgresCluster, migrated_database, running_cluster

__all__ = ["pg", "pg_db"]


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    log = tmp_path_factory.mktemp("postgres") / "server.log"
    with running_cluster(keep_log=log) as cluster:
        yield cluster


@pytest.fixture
def pg_db(pg: PostgresCluster) -> Iterator[Database]:
    with migrated_database(pg) as db:
        yield db
