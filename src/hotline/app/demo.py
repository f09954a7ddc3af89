"""``hotline init --demo``: the demo service of architecture.md.

Loads operators with SIP accounts 1001–1005 and web logins, a supervisor (with
the SIP account 2001 for its phone: monitoring rings it), an administrator and
an auditor, and a local test trunk that accepts calls to 122 from the loopback
network.  The supervisor's SIP account is an operator row linked to a user whose
role is ``supervisor``: it registers and authenticates like an operator's phone,
but the ACD never offers it calls
(:func:`~hotline.app.callservice.operator_profiles`).  Prints the credentials and writes them to
``<data dir>/demo-credentials.txt`` (mode 0600).  Passwords are stored only as
hashes: argon2id for web logins, digest HA1 (MD5 and SHA-256) for SIP.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher

from hotline.sip.digest import DigestAlgorithm, ha1
from hotline.store.accounts import AccountsRepository, Operator, Trunk, User
from hotline.store.kb import StandardAnswersRepository
from hotline.store.organisations import OrganisationsRepository, StoredOrganisation
from hotline.store.proposals import FlowsRepository
from hotline.store.queues import QueuesRepository, StoredQueue

__all__ = [
    "DEMO_ORGANISATIONS",
    "DEMO_PHONE_ACCOUNTS",
    "DEMO_QUEUES",
    "DEMO_REALM",
    "DemoAccount",
    "load_demo",
    "load_demo_flow",
    "load_demo_organisations",
    "load_demo_queues",
    "load_demo_standard_answers",
    "write_credentials",
]

DEMO_REALM = "hotline122"
DEMO_OPERATORS = (
    ("1001", "Анна Иванова"),
    ("1002", "Борис Петров"),
    ("1003", "Вера Смирнова"),
    ("1004", "Григорий Кузнецов"),
    ("1005", "Дарья Соколова"),
)
DEMO_STAFF = (
    ("supervisor", "Старший смены", "supervisor", ("medical_secrecy",)),
    ("admin", "Администратор", "administrator", ()),
    ("auditor", "Аудитор министерства", "auditor", ()),
)
DEMO_PHONE_ACCOUNTS = {"supervisor": ("2001", "Старший смены")}
"""Staff logins with a SIP account of their own: login → (extension, name)."""
DEMO_TOPICS = ("social", "health", "education", "military", "services")
# The demo's queues (architecture.md): one per topic and a general one for "0",
# each with a 20 s answer norm and a 120 s maximum wait.
DEMO_QUEUES = (
    ("general", "Общая очередь", "general"),
    ("social", "Социальная сфера", "social"),
    ("health", "Здравоохранение", "health"),
    ("education", "Образование", "education"),
    ("military", "Военная служба", "military"),
    ("services", "Государственные и муниципальные услуги", "services"),
)
# The demo's directory of organisations (R7); the numbers are fictional (+7 800 000-xx-xx).
DEMO_ORGANISATIONS = (
    StoredOrganisation(
        "minzdrav", "Горячая линия Минздрава области", "+78000000101", ("health",),
        "круглосуточно",
    ),
    StoredOrganisation(
        "voenkomat", "Военный комиссариат", "+78000000202", ("military",),
        "пн–пт 9:00–18:00",
    ),
    StoredOrganisation(
        "mfc", "МФЦ", "+78000000303", ("services", "social"), "пн–сб 8:00–20:00",
    ),
    StoredOrganisation(
        "minobr", "Министерство образования области", "+78000000404", ("education",),
        "пн–пт 9:00–17:00",
    ),
)  # fmt: skip
DEMO_QUEUE_CONFIG = {
    "sl_norm_s": 20.0,
    "max_wait_s": 120.0,
    "ring_timeout_s": 20.0,
    "wrap_up_s": 10.0,
    "strategy": "longest-idle",
    "announce_interval_s": 30.0,
}


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """One line of the credentials printout."""

    kind: str  # "web" or "sip"
    login: str
    password: str
    role: str
    name: str


def _password(fixed: str | None) -> str:
    return fixed if fixed is not None else secrets.token_urlsafe(9)


def load_demo(repo: AccountsRepository, *, password: str | None) -> list[DemoAccount]:
    """Insert the demo accounts and trunk; return the credentials to show once."""
    hasher = PasswordHasher()
    now = datetime.now(UTC)
    accounts: list[DemoAccount] = []
    for index, (ext, name) in enumerate(DEMO_OPERATORS, start=1):
        web_login = f"operator{index}"
        web_pw = _password(password)
        user_id = secrets.token_hex(8)
        repo.add_user(
            User(
                id=user_id,
                username=web_login,
                display_name=name,
                role="operator",
                permissions=(),
                password_hash=hasher.hash(web_pw),
                is_active=True,
                created_at=now,
            )
        )
        sip_pw = _password(password)
        repo.add_operator(
            Operator(
                id=secrets.token_hex(8),
                name=name,
                user_id=user_id,
                sip_username=ext,
                sip_realm=DEMO_REALM,
                ha1_md5=ha1(ext, DEMO_REALM, sip_pw, DigestAlgorithm.MD5),
                ha1_sha256=ha1(ext, DEMO_REALM, sip_pw, DigestAlgorithm.SHA256),
                skills={topic: 5 for topic in DEMO_TOPICS},
            )
        )
        accounts.append(DemoAccount("web", web_login, web_pw, "operator", name))
        accounts.append(DemoAccount("sip", ext, sip_pw, "operator phone", name))
    for login, name, role, permissions in DEMO_STAFF:
        pw = _password(password)
        user_id = secrets.token_hex(8)
        repo.add_user(
            User(
                id=user_id,
                username=login,
                display_name=name,
                role=role,
                permissions=permissions,
                password_hash=hasher.hash(pw),
                is_active=True,
                created_at=now,
            )
        )
        accounts.append(DemoAccount("web", login, pw, role, name))
        if login in DEMO_PHONE_ACCOUNTS:
            ext, phone_name = DEMO_PHONE_ACCOUNTS[login]
            accounts.append(_add_phone(repo, user_id, ext, phone_name, _password(password), role))
    repo.add_trunk(
        Trunk(
            id=secrets.token_hex(8),
            name="local-test",
            host="127.0.0.1",
            port=5080,
            transport="udp",
            trusted_networks=("127.0.0.0/8", "::1/128"),
            inbound_numbers=("122",),
            max_calls=100,
        )
    )
    repo.set_meta("demo_loaded_at", now.isoformat())
    return accounts


def _add_phone(
    repo: AccountsRepository, user_id: str, ext: str, name: str, sip_pw: str, role: str
) -> DemoAccount:
    """A SIP account (an operator row without skills) for a staff member's phone."""
    repo.add_operator(
        Operator(
            id=secrets.token_hex(8),
            name=name,
            user_id=user_id,
            sip_username=ext,
            sip_realm=DEMO_REALM,
            ha1_md5=ha1(ext, DEMO_REALM, sip_pw, DigestAlgorithm.MD5),
            ha1_sha256=ha1(ext, DEMO_REALM, sip_pw, DigestAlgorithm.SHA256),
            skills={},
        )
    )
    return DemoAccount("sip", ext, sip_pw, f"{role} phone", name)


def load_demo_queues(repo: QueuesRepository) -> None:
    """Insert the demo's queues."""
    for queue_id, name, topic in DEMO_QUEUES:
        repo.save(StoredQueue(queue_id, name, topic, dict(DEMO_QUEUE_CONFIG)))


def load_demo_organisations(repo: OrganisationsRepository) -> None:
    """Insert the demo's directory of organisations."""
    for organisation in DEMO_ORGANISATIONS:
        repo.save(organisation)


def load_demo_flow(repo: FlowsRepository) -> None:
    """Store the demo voice menu as the ``main`` flow (what the node runs, the admin edits)."""
    from hotline.ivr.flow_yaml import demo_flow_yaml

    repo.save("main", demo_flow_yaml(), updated_by="demo", now=datetime.now(UTC))


def load_demo_standard_answers(repo: StandardAnswersRepository) -> int:
    """Insert the standard answers shipped with the package (R12b); return how many."""
    from hotline.app.cli_kb import entries_to_stored, load_packaged_kb

    return repo.import_answers(entries_to_stored(load_packaged_kb()), updated_by="demo")


def write_credentials(path: Path, accounts: list[DemoAccount], *, sip_port: int) -> str:
    """Write the credentials file (mode 0600) and return its text."""
    lines = [
        "Hotline 122 demo credentials (keep this file private)",
        "",
        "Web logins:",
    ]
    lines += [
        f"  {a.login:<12} {a.password:<20} {a.role:<14} {a.name}"
        for a in accounts
        if a.kind == "web"
    ]
    lines += ["", f"SIP accounts (registrar port {sip_port}, realm {DEMO_REALM}):"]
    lines += [f"  {a.login:<12} {a.password:<20} {a.name}" for a in accounts if a.kind == "sip"]
    text = "\n".join(lines) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    return text
