"""Trunks' credentials at the providers: repository round trips, the call path's trunk configs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.app.stored_config import stored_trunks
from hotline.calls.trunks import TrunkCredentials
from hotline.store.accounts import AccountsRepository, Trunk
from hotline.store.db import Database
from hotline.store.trunk_credentials import (
    StoredTrunkCredentials,
    TrunkCredentialsRepository,
    TrunkLogin,
)

RT = Trunk("t1", "rostelecom", "192.0.2.10", 5080, "udp", (), ("122",), 30)
MTS = Trunk("t2", "mts", "192.0.2.20", 5060, "tcp", ("192.0.2.0/24",), (), 10)
LOGIN = StoredTrunkCredentials("t1", "4951234567", "s3cret-at-provider", "provider", True, 300)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'h.db'}")
    database.migrate()
    accounts = AccountsRepository(database)
    accounts.add_trunk(RT)
    accounts.add_trunk(MTS)
    try:
        yield database
    finally:
        database.dispose()


def test_set_get_replace_and_clear(db: Database) -> None:
    repo = TrunkCredentialsRepository(db)
    assert repo.get("t1") is None and repo.secrets() == {} and repo.logins() == {}
    assert repo.set(LOGIN) is True
    assert repo.get("t1") == LOGIN
    assert repo.secrets() == {"t1": LOGIN}
    changed = StoredTrunkCredentials("t1", "other", "new-password")
    assert repo.set(changed) is True
    assert repo.get("t1") == changed and repo.get("t1") != LOGIN
    assert repo.clear("t1") is True
    assert repo.clear("t1") is False
    assert repo.get("t1") is None


def test_credentials_of_an_unknown_trunk_are_refused(db: Database) -> None:
    repo = TrunkCredentialsRepository(db)
    assert repo.set(StoredTrunkCredentials("nope", "u", "p")) is False
    assert repo.secrets() == {}


def test_logins_say_whether_a_password_is_set_but_not_which(db: Database) -> None:
    repo = TrunkCredentialsRepository(db)
    repo.set(LOGIN)
    (login,) = repo.logins().values()
    assert login == TrunkLogin("t1", "4951234567", True, "provider", True, 300)
    assert LOGIN.password not in repr(login)
    assert LOGIN.password not in repr(LOGIN)  # not even the secret's own repr shows it


def test_the_trunks_repository_never_carries_the_password(db: Database) -> None:
    TrunkCredentialsRepository(db).set(LOGIN)
    assert LOGIN.password not in repr(AccountsRepository(db).trunks())


def test_deleting_the_trunk_deletes_its_credentials(db: Database) -> None:
    repo = TrunkCredentialsRepository(db)
    repo.set(LOGIN)
    AccountsRepository(db).clear()  # ``hotline init --force``
    assert repo.secrets() == {}


def test_stored_trunks_carry_credentials_and_registration(db: Database) -> None:
    TrunkCredentialsRepository(db).set(LOGIN)
    configs = {c.name: c for c in stored_trunks(db)}
    rt, mts = configs["rostelecom"], configs["mts"]
    assert rt.credentials == TrunkCredentials("4951234567", "s3cret-at-provider")
    assert (rt.register, rt.register_expires_s) == (True, 300)
    assert (rt.host, rt.port, rt.inbound_numbers) == ("192.0.2.10", 5080, ("122",))
    assert mts.credentials is None and mts.register is False
    rt.validate()
    mts.validate()
