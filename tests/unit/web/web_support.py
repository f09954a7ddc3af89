"""Helpers shared by the web tests (unit and integration): users per role, logging in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import httpx
from argon2 import PasswordHasher

from hotline.store.accounts import AccountsRepository, User
from hotline.store.db import Database

FAST_HASHER: Final = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD: Final = "correct horse 122"
START: Final = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: username → role, one user per role.
USERS: Final = {
    "operator1": "operator",
    "supervisor": "supervisor",
    "admin": "administrator",
    "auditor": "auditor",
}
ROLES: Final = tuple(USERS.values())
USER_OF_ROLE: Final = {role: name for name, role in USERS.items()}
#: username → user id as :func:`add_users` stores them.
USER_IDS: Final = {name: f"u{index}" for index, name in enumerate([*USERS, "medic"])}


def add_users(db: Database, hasher: PasswordHasher = FAST_HASHER) -> None:
    """One user per role, plus ``medic``: a supervisor with ``medical_secrecy``."""
    repo = AccountsRepository(db)
    rows: list[tuple[str, str, tuple[str, ...]]] = [
        (name, role, ()) for name, role in USERS.items()
    ]
    rows.append(("medic", "supervisor", ("medical_secrecy",)))
    for username, role, extra in rows:
        repo.add_user(
            User(
                id=USER_IDS[username],
                username=username,
                display_name=f"Пользователь {username}",
                role=role,
                permissions=extra,
                password_hash=hasher.hash(PASSWORD),
                is_active=True,
                created_at=START,
            )
        )


async def log_in(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Log ``http`` in; returns the CSRF token (the session cookie stays in the client)."""
    response = await http.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token
