"""``hotline init --demo``: accounts, credentials file, refusal to overwrite."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from argon2 import PasswordHasher
from typer.testing import CliRunner

from hotline.app.callservice import operator_profiles
from hotline.app.cli import app
from hotline.app.settings import load_settings
from hotline.store.accounts import AccountsRepository
from hotline.store.db import Database


def _repo() -> tuple[Database, AccountsRepository]:
    db = Database(load_settings().database_url)
    return db, AccountsRepository(db)


def test_demo_with_fixed_password(hotline_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["init", "--demo", "--demo-password", "s3cret-pw"])
    assert result.exit_code == 0, result.output
    creds = Path(hotline_env["HOTLINE_DATA_DIR"]) / "demo-credentials.txt"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    text = creds.read_text(encoding="utf-8")
    assert text in result.stdout
    db, repo = _repo()
    try:
        ops = repo.operators()
        assert [o.sip_username for o in ops] == ["1001", "1002", "1003", "1004", "1005", "2001"]
        op = ops[0]
        assert op.ha1_md5 == hashlib.md5(f"1001:{op.sip_realm}:s3cret-pw".encode()).hexdigest()
        assert (
            op.ha1_sha256 == hashlib.sha256(f"1001:{op.sip_realm}:s3cret-pw".encode()).hexdigest()
        )
        users = {u.username: u for u in repo.users()}
        assert {u.role for u in users.values()} == {
            "operator",
            "supervisor",
            "administrator",
            "auditor",
        }
        assert len([u for u in users.values() if u.role == "operator"]) == 5
        assert PasswordHasher().verify(users["supervisor"].password_hash, "s3cret-pw")
        # The supervisor's phone: a SIP account linked to the supervisor, with no skills.
        supervisor_phone = ops[-1]
        assert supervisor_phone.user_id == users["supervisor"].id
        assert supervisor_phone.skills == {} and supervisor_phone.enabled
        assert (
            supervisor_phone.ha1_md5
            == hashlib.md5(f"2001:{op.sip_realm}:s3cret-pw".encode()).hexdigest()
        )
        assert "2001" in text  # in the credentials file, like the operators' accounts
        # Only operators are ACD agents: the supervisor's phone is never offered calls.
        profiles = operator_profiles(repo)
        assert [p.operator_id for p in profiles] == ["1001", "1002", "1003", "1004", "1005"]
        assert users["supervisor"].password_hash.startswith("$argon2id$")
        (trunk,) = repo.trunks()
        assert "127.0.0.0/8" in trunk.trusted_networks and "122" in trunk.inbound_numbers
    finally:
        db.dispose()
    # No plaintext password in the database file.
    raw = (Path(hotline_env["HOTLINE_DATA_DIR"]) / "hotline.db").read_bytes()
    assert b"s3cret-pw" not in raw


def test_random_passwords_differ_and_are_printed(hotline_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["init", "--demo"])
    assert result.exit_code == 0, result.output
    lines = [ln.split() for ln in result.stdout.splitlines() if ln.startswith("  ")]
    passwords = [parts[1] for parts in lines]
    assert len(passwords) == 14  # 8 web logins + 6 SIP accounts (5 operators, the supervisor)
    assert len(set(passwords)) == 14
    assert all(len(p) >= 12 for p in passwords)


def test_rerun_refuses_without_force_and_if_missing_is_quiet(hotline_env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--demo"]).exit_code == 0
    again = runner.invoke(app, ["init", "--demo"])
    assert again.exit_code == 1
    assert "already initialised" in again.stderr and "--force" in again.stderr
    quiet = runner.invoke(app, ["init", "--demo", "--if-missing"])
    assert quiet.exit_code == 0
    forced = runner.invoke(app, ["init", "--demo", "--force", "--demo-password", "pw-2-pw"])
    assert forced.exit_code == 0, forced.output
    db, repo = _repo()
    try:
        assert len(repo.operators()) == 6  # replaced, not doubled
        assert PasswordHasher().verify(repo.users()[0].password_hash, "pw-2-pw")
    finally:
        db.dispose()


def test_demo_password_needs_demo_and_length(hotline_env: dict[str, str]) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["init", "--demo-password", "abcdef"])
    assert r.exit_code == 2 and "--demo-password needs --demo" in r.stderr
    r = runner.invoke(app, ["init", "--demo", "--demo-password", "ab"])
    assert r.exit_code == 2 and "at least 4" in r.stderr


def test_version() -> None:
    from hotline import __version__

    r = CliRunner().invoke(app, ["version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"hotline {__version__}"
