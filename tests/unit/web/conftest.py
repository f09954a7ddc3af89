"""Fixtures of the web unit tests: a migrated SQLite database with one user per role, the app.

The schema is migrated once per session into a template file and copied for
each test (a migration takes longer than a whole test).  Passwords use cheap
argon2id parameters so that logins stay fast.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.web_support import FAST_HASHER, START, add_users

BASE_URL = "http://hotline.test"


class Health:
    def health(self) -> tuple[bool, dict[str, str]]:
        return True, {"node": "running"}


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("webdb") / "template.db"
    db = Database(f"sqlite:///{path}")
    try:
        db.migrate()
        add_users(db)
    finally:
        db.dispose()
    return path


@pytest.fixture
def db(template_db: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "hotline.db"
    shutil.copy(template_db, path)
    database = Database(f"sqlite:///{path}")
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start_wall=START)


@pytest.fixture
def config() -> WebConfig:
    return WebConfig(lockout_user_failures=3, lockout_source_failures=6, lockout_window_s=600)


@dataclass
class Web:
    """The app under test and what built it."""

    app: FastAPI
    db: Database
    clock: FakeClock
    config: WebConfig


@pytest.fixture
def web(db: Database, clock: FakeClock, config: WebConfig) -> Web:
    app = create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        version="test",
        hasher=FAST_HASHER,
    )
    return Web(app, db, clock, config)


def client_for(app: FastAPI, base_url: str = BASE_URL) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def client(web: Web) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(web.app) as http:
        yield http
