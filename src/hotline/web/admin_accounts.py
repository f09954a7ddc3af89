"""Administration of users and roles, operators (accounts, SIP credentials, skills), trunks.

Separation of duties: an administrator changes nobody's role, extra
permissions, activity or password on their own account (another
administrator must), grants only :class:`~hotline.web.permissions.ExtraPermission`
extras (never ``admin.*`` or ``audit.read``: those come with a role), and
resetting the password of an administrator or an auditor needs a reason,
written to the audit log; every reset ends the target's sessions.

Passwords never leave the request: a user's password is stored as an
argon2id hash, an operator's SIP password as its two digest HA1 values
(RFC 8760: MD5 and SHA-256 of ``user:realm:password``).  Disabling a user or
resetting their password ends their sessions.  Operator changes go to the
running ACD (profiles) and SIP service (credentials) at once; trunk changes
reach the SIP service's trusted networks and the call path's trunk table
(outbound calls, redirects, registrations at providers) at once.  A trunk's
password at its provider is write-only: never answered nor audited (the
answers say ``has_password``); a PUT without ``password`` keeps the stored
one, a PUT without ``username`` removes the credentials.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hotline.core.errors import RemoteProtocolError
from hotline.sip.digest import DigestAlgorithm, ha1
from hotline.sip.uri import SipUri
from hotline.store.account_updates import AccountUpdates
from hotline.store.accounts import MAX_CONTACT_URI_CHARS, AccountsRepository, Operator, Trunk, User
from hotline.store.audit import AuditAction
from hotline.store.trunk_credentials import (
    MAX_TRUNK_PASSWORD_CHARS,
    MAX_TRUNK_USERNAME_CHARS,
    StoredTrunkCredentials,
    TrunkCredentialsRepository,
    TrunkLogin,
)
from hotline.web.admin_common import ADMIN_CONFIG, ADMIN_USERS, Applied, blocking
from hotline.web.admin_live import live_of
from hotline.web.audit_api import reason_of, record
from hotline.web.auth import Principal, context_of
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.permissions import ExtraPermission, Role

__all__ = [
    "OperatorIn",
    "OperatorOut",
    "OperatorPatch",
    "PasswordIn",
    "PasswordResetIn",
    "TrunkIn",
    "TrunkOut",
    "UserIn",
    "UserOut",
    "UserPatch",
    "admin_accounts_router",
]

NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
SKILL_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
MIN_PASSWORD: Final = 8
MAX_PASSWORD: Final = 256
MAX_REASON: Final = 500
#: A trunk's user name and realm go into SIP header quoted strings: no controls, quotes, backslashes.
TRUNK_TOKEN_PATTERN: Final = r'^[^\x00-\x1f\x7f"\\]+$'
MIN_REGISTER_EXPIRES_S: Final = 60
MAX_REGISTER_EXPIRES_S: Final = 86_400
#: Roles whose password reset needs a reason (taking over such an account is the risk).
PRIVILEGED_ROLES: Final = frozenset({Role.ADMINISTRATOR.value, Role.AUDITOR.value})

SkillName = Annotated[str, Field(pattern=SKILL_PATTERN)]
SkillLevel = Annotated[int, Field(ge=1, le=10)]
Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]


def _sip_uri(value: str) -> str:
    """A fixed phone's contact: a sip/sips URI with a host ("" clears it in a patch)."""
    if value == "":
        return value
    try:
        SipUri.parse(value, "contact_uri")
    except RemoteProtocolError as exc:
        raise ValueError(str(exc)) from None
    return value


ContactUri = Annotated[str, Field(max_length=MAX_CONTACT_URI_CHARS), AfterValidator(_sip_uri)]


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: Role
    permissions: list[str]
    is_active: bool


class UserIn(BaseModel):
    username: str = Field(pattern=NAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: Password
    permissions: list[ExtraPermission] = Field(default_factory=list, max_length=32)


class UserPatch(BaseModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    permissions: list[ExtraPermission] | None = Field(default=None, max_length=32)
    is_active: bool | None = None


class PasswordIn(BaseModel):
    password: Password


class PasswordResetIn(PasswordIn):
    reason: str | None = Field(default=None, max_length=MAX_REASON)


class OperatorOut(BaseModel):
    id: str
    name: str
    user_id: str | None
    sip_username: str
    sip_realm: str
    skills: dict[str, Any]
    enabled: bool
    contact_uri: str | None = None


class OperatorIn(BaseModel):
    id: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    sip_username: str = Field(pattern=NAME_PATTERN)
    sip_realm: str = Field(min_length=1, max_length=128)
    sip_password: Password
    skills: dict[SkillName, SkillLevel] = Field(default_factory=dict, max_length=64)
    user_id: str | None = Field(default=None, max_length=32)
    enabled: bool = True
    contact_uri: ContactUri | None = None  # a phone that does not register ("" = none)


class OperatorPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    skills: dict[SkillName, SkillLevel] | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=32)
    enabled: bool | None = None
    contact_uri: ContactUri | None = None  # "" removes the fixed URI


class TrunkOut(BaseModel):
    id: str
    name: str
    host: str
    port: int
    transport: str
    trusted_networks: list[str]
    inbound_numbers: list[str]
    max_calls: int
    enabled: bool
    username: str | None = None
    has_password: bool = False  # the password itself is write-only
    realm: str | None = None
    # "register" on the wire: the Python name would shadow ``BaseModel.register`` (ABC).
    registers: bool = Field(default=False, alias="register")
    register_expires_s: int = 600

    model_config = ConfigDict(populate_by_name=True)


class TrunkIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=5060, ge=1, le=65535)
    transport: str = Field(default="udp", pattern=r"^(udp|tcp|tls)$")
    trusted_networks: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=64
    )
    inbound_numbers: list[Annotated[str, Field(pattern=r"^\+?[0-9]{2,20}$")]] = Field(
        default_factory=list, max_length=64
    )
    max_calls: int = Field(default=30, ge=1, le=10_000)
    enabled: bool = True
    # Our account at the provider: digest answers and registration (RFC 3261 §10.2, §22.2).
    username: str | None = Field(
        default=None, max_length=MAX_TRUNK_USERNAME_CHARS, pattern=TRUNK_TOKEN_PATTERN
    )
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TRUNK_PASSWORD_CHARS,
        json_schema_extra={"writeOnly": True},
    )
    realm: str | None = Field(default=None, max_length=255, pattern=TRUNK_TOKEN_PATTERN)
    registers: bool = Field(default=False, alias="register")
    register_expires_s: int = Field(
        default=600, ge=MIN_REGISTER_EXPIRES_S, le=MAX_REGISTER_EXPIRES_S
    )

    @model_validator(mode="after")
    def _registration_needs_a_user(self) -> TrunkIn:
        if self.registers and not self.username:
            raise ValueError("register needs a username and a password")
        if self.password is not None and not self.username:
            raise ValueError("a password needs a username")
        return self

    model_config = ConfigDict(populate_by_name=True)


def _user_out(u: User) -> UserOut:
    return UserOut(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        role=Role(u.role) if u.role in {r.value for r in Role} else Role.OPERATOR,
        permissions=list(u.permissions),
        is_active=u.is_active,
    )


def _operator_out(o: Operator) -> OperatorOut:
    return OperatorOut(
        id=o.id,
        name=o.name,
        user_id=o.user_id,
        sip_username=o.sip_username,
        sip_realm=o.sip_realm,
        skills=dict(o.skills),
        enabled=o.enabled,
        contact_uri=o.contact_uri,
    )


def _trunk_out(t: Trunk, login: TrunkLogin | None = None) -> TrunkOut:
    """A trunk's settings (``TrunkOut`` mirrors ``Trunk``) and its login, never the password."""
    return TrunkOut(
        **asdict(t),
        username=login.username if login is not None else None,
        has_password=login.has_password if login is not None else False,
        realm=login.realm if login is not None else None,
        register=login.register if login is not None else False,
        register_expires_s=login.register_expires_s if login is not None else 600,
    )


admin_accounts_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
UserId = Annotated[str, Path(max_length=32)]
OperatorId = Annotated[str, Path(pattern=NAME_PATTERN)]


# -- users -----------------------------------------------------------------------------


@admin_accounts_router.get("/users", response_model=list[UserOut], summary="Users and roles")
async def list_users(request: Request, who: Annotated[Principal, ADMIN_USERS]) -> list[UserOut]:
    users = await blocking(AccountsRepository(context_of(request).db).users)
    return [_user_out(u) for u in users]


@admin_accounts_router.post("/users", response_model=UserOut, status_code=201, summary="New user")
async def create_user(
    request: Request, body: UserIn, who: Annotated[Principal, ADMIN_USERS]
) -> UserOut:
    ctx = context_of(request)
    repo = AccountsRepository(ctx.db)
    if await blocking(repo.user_by_username, body.username) is not None:
        raise ApiError(ErrorCode.CONFLICT)
    user = User(
        id=secrets.token_hex(8),
        username=body.username,
        display_name=body.display_name,
        role=body.role.value,
        permissions=tuple(p.value for p in body.permissions),
        password_hash=await blocking(ctx.hasher.hash, body.password),
        is_active=True,
        created_at=ctx.clock.utcnow(),
    )
    await blocking(repo.add_user, user)
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"user:{user.username}",
        details={"created": True, "role": user.role, "permissions": list(user.permissions)},
    )
    return _user_out(user)


@admin_accounts_router.patch("/users/{user_id}", response_model=UserOut, summary="Change a user")
async def patch_user(
    request: Request, user_id: UserId, body: UserPatch, who: Annotated[Principal, ADMIN_USERS]
) -> UserOut:
    ctx = context_of(request)
    updates = AccountUpdates(ctx.db)
    own = user_id == who.user_id
    if own and (
        body.is_active is not None or body.role is not None or body.permissions is not None
    ):
        raise ApiError(ErrorCode.CONFLICT)  # another administrator must (module docstring)
    found = await blocking(
        updates.update_user,
        user_id,
        display_name=body.display_name,
        role=body.role.value if body.role is not None else None,
        permissions=[p.value for p in body.permissions] if body.permissions is not None else None,
        is_active=body.is_active,
    )
    user = await blocking(updates.user, user_id) if found else None
    if user is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    if body.is_active is False or body.role is not None or body.permissions is not None:
        await blocking(ctx.sessions.delete_user_sessions, user_id)
    changed = sorted(body.model_dump(exclude_none=True))
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"user:{user.username}",
        details={"changed": changed, **body.model_dump(exclude_none=True, mode="json")},
    )
    return _user_out(user)


@admin_accounts_router.post(
    "/users/{user_id}/password", response_model=UserOut, summary="Reset a user's password"
)
async def reset_password(
    request: Request,
    user_id: UserId,
    body: PasswordResetIn,
    who: Annotated[Principal, ADMIN_USERS],
) -> UserOut:
    """Another user's password; a reason for an administrator's or an auditor's (audited)."""
    ctx = context_of(request)
    if user_id == who.user_id:
        raise ApiError(ErrorCode.CONFLICT)  # not one's own: another administrator must
    updates = AccountUpdates(ctx.db)
    target = await blocking(updates.user, user_id)
    if target is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    privileged = target.role in PRIVILEGED_ROLES
    reason = reason_of(body.reason) if privileged else (body.reason or "").strip() or None
    hashed = await blocking(ctx.hasher.hash, body.password)
    if not await blocking(updates.update_user, user_id, password_hash=hashed):
        raise ApiError(ErrorCode.NOT_FOUND)
    revoked = await blocking(ctx.sessions.delete_user_sessions, user_id)
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"user:{target.username}",
        details={
            "changed": ["password"],
            "role": target.role,
            "privileged": privileged,
            "sessions_revoked": revoked,
        },
        reason=reason,
    )
    return _user_out(target)


# -- operators ---------------------------------------------------------------------------


async def _apply_operators(request: Request) -> tuple[bool, bool]:
    """(the ACD took the profiles, the SIP service re-read the credentials)."""
    live = live_of(request)
    if live is None:
        return False, False
    operators = await blocking(AccountsRepository(context_of(request).db).operators)
    live.apply_operators(operators)
    return True, await blocking(live.reload_accounts)


@admin_accounts_router.get("/operators", response_model=list[OperatorOut], summary="Operators")
async def list_operators(
    request: Request, who: Annotated[Principal, ADMIN_USERS]
) -> list[OperatorOut]:
    found = await blocking(AccountsRepository(context_of(request).db).operators)
    return [_operator_out(o) for o in found]


def _ha1s(username: str, realm: str, password: str) -> tuple[str, str]:
    return (
        ha1(username, realm, password, DigestAlgorithm.MD5),
        ha1(username, realm, password, DigestAlgorithm.SHA256),
    )


@admin_accounts_router.post(
    "/operators", response_model=Applied, status_code=201, summary="New operator (applied live)"
)
async def create_operator(
    request: Request, body: OperatorIn, who: Annotated[Principal, ADMIN_USERS]
) -> Applied:
    ctx = context_of(request)
    repo = AccountsRepository(ctx.db)
    updates = AccountUpdates(ctx.db)
    if await blocking(updates.operator, body.id) is not None or (
        await blocking(repo.operator_by_sip_username, body.sip_username) is not None
    ):
        raise ApiError(ErrorCode.CONFLICT)
    if body.user_id is not None and await blocking(updates.user, body.user_id) is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    md5, sha256 = _ha1s(body.sip_username, body.sip_realm, body.sip_password)
    operator = Operator(
        id=body.id,
        name=body.name,
        user_id=body.user_id,
        sip_username=body.sip_username,
        sip_realm=body.sip_realm,
        ha1_md5=md5,
        ha1_sha256=sha256,
        skills=dict(body.skills),
        enabled=body.enabled,
        contact_uri=body.contact_uri or None,
    )
    await blocking(repo.add_operator, operator)
    applied, _ = await _apply_operators(request)
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"operator:{body.id}",
        details={"created": True, "skills": dict(body.skills), "applied": applied},
    )
    return Applied(applied=applied, restart_needed=not applied)


@admin_accounts_router.patch(
    "/operators/{operator_id}", response_model=Applied, summary="Change an operator (applied live)"
)
async def patch_operator(
    request: Request,
    operator_id: OperatorId,
    body: OperatorPatch,
    who: Annotated[Principal, ADMIN_USERS],
) -> Applied:
    ctx = context_of(request)
    updates = AccountUpdates(ctx.db)
    if body.user_id and await blocking(updates.user, body.user_id) is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    found = await blocking(
        updates.update_operator,
        operator_id,
        name=body.name,
        user_id=body.user_id,
        skills=body.skills,
        enabled=body.enabled,
    )
    if not found:
        raise ApiError(ErrorCode.NOT_FOUND)
    if body.contact_uri is not None:
        repo = AccountsRepository(ctx.db)
        await blocking(repo.set_operator_contact, operator_id, body.contact_uri or None)
    applied, _ = await _apply_operators(request)
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"operator:{operator_id}",
        details={
            "changed": sorted(body.model_dump(exclude_none=True)),
            "applied": applied,
            **body.model_dump(exclude_none=True, mode="json"),
        },
    )
    return Applied(applied=applied, restart_needed=not applied)


@admin_accounts_router.post(
    "/operators/{operator_id}/sip-password",
    response_model=Applied,
    summary="Set an operator's SIP password (only its HA1 is stored)",
)
async def set_sip_password(
    request: Request,
    operator_id: OperatorId,
    body: PasswordIn,
    who: Annotated[Principal, ADMIN_USERS],
) -> Applied:
    updates = AccountUpdates(context_of(request).db)
    operator = await blocking(updates.operator, operator_id)
    if operator is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    hashes = _ha1s(operator.sip_username, operator.sip_realm, body.password)
    await blocking(updates.update_operator, operator_id, ha1=hashes)
    _, applied = await _apply_operators(request)
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"operator:{operator_id}",
        details={"changed": ["sip_password"], "applied": applied},
    )
    return Applied(applied=applied, restart_needed=not applied)


# -- trunks ------------------------------------------------------------------------------


@admin_accounts_router.get("/trunks", response_model=list[TrunkOut], summary="SIP trunks")
async def list_trunks(request: Request, who: Annotated[Principal, ADMIN_CONFIG]) -> list[TrunkOut]:
    db = context_of(request).db
    found = await blocking(AccountsRepository(db).trunks)
    logins = await blocking(TrunkCredentialsRepository(db).logins)
    return [_trunk_out(t, logins.get(t.id)) for t in found]


@admin_accounts_router.put(
    "/trunks/{trunk_id}", response_model=Applied, summary="Create or change a trunk"
)
async def put_trunk(
    request: Request,
    trunk_id: OperatorId,
    body: TrunkIn,
    who: Annotated[Principal, ADMIN_CONFIG],
) -> Applied:
    ctx = context_of(request)
    others = await blocking(AccountsRepository(ctx.db).trunks)
    if any(t.name == body.name and t.id != trunk_id for t in others):
        raise ApiError(ErrorCode.CONFLICT)
    credentials = TrunkCredentialsRepository(ctx.db)
    password = body.password
    if body.username and password is None:  # write-only: an omitted password keeps the stored one
        stored = await blocking(credentials.get, trunk_id)
        password = stored.password if stored is not None else None
        if password is None:
            raise ApiError(ErrorCode.VALIDATION_FAILED, params={"field": "password"})
    trunk = Trunk(
        id=trunk_id,
        name=body.name,
        host=body.host,
        port=body.port,
        transport=body.transport,
        trusted_networks=tuple(body.trusted_networks),
        inbound_numbers=tuple(body.inbound_numbers),
        max_calls=body.max_calls,
        enabled=body.enabled,
    )
    await blocking(AccountUpdates(ctx.db).save_trunk, trunk)
    if body.username and password is not None:
        login = StoredTrunkCredentials(
            trunk_id=trunk_id,
            username=body.username,
            password=password,
            realm=body.realm or None,
            register=body.registers,
            register_expires_s=body.register_expires_s,
        )
        await blocking(credentials.set, login)
    else:
        await blocking(credentials.clear, trunk_id)
    live = live_of(request)
    networks = await blocking(live.reload_accounts) if live is not None else False
    routing = await blocking(live.reload_trunks) if live is not None else False
    applied = networks and routing
    details = body.model_dump(mode="json", by_alias=True, exclude={"password"})
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"trunk:{trunk_id}",
        details={**details, "password_changed": body.password is not None, "applied": applied},
    )
    # Trusted networks (SIP service) and the trunk table (calls, registrations) at once.
    return Applied(applied=applied, restart_needed=not applied)
