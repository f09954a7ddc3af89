"""Roles and permissions (R12a, R12c, R12d): one table, looked up by every route.

A user has one :class:`Role` and may hold extra permissions (``users.permissions``,
e.g. ``medical_secrecy`` for a senior supervisor).  A role stored in the
database that this version does not know grants nothing; an unknown extra
permission string is ignored.

The auditor (the ministry) is read-only: reports, the feed and the audit log,
no personal data, no recordings.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "GRANTABLE_EXTRAS",
    "ROLE_PERMISSIONS",
    "ExtraPermission",
    "Permission",
    "Role",
    "permissions_of",
]


class Role(enum.StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"


class Permission(enum.StrEnum):
    """What a route may demand; the values are stored in ``users.permissions``."""

    CALLS_VIEW = "calls.view"  # see live calls (the desk: one's own; supervisors: all)
    CALLS_CONTROL = "calls.control"  # the operator desk's controls on a live call
    QUEUES_VIEW = "queues.view"  # the wallboard
    QUEUES_CONTROL = "queues.control"  # move / prioritise / assign calls, set states (R8d)
    MONITOR = "monitor"  # listen, whisper, barge
    RECORDINGS_PLAY = "recordings.play"
    RECORDINGS_DOWNLOAD = "recordings.download"
    REPORTS_VIEW = "reports.view"
    REPORTS_EXPORT = "reports.export"
    FEED_READ = "feed.read"  # the Situational Centre pull API
    AUDIT_READ = "audit.read"
    ADMIN_USERS = "admin.users"  # users, roles, operators' accounts
    ADMIN_CONFIG = "admin.config"  # queues, flows, prompts, directory, answers, trunks
    PERSONAL_DATA_VIEW = "personal_data.view"  # callers' full numbers
    MEDICAL_SECRECY = "medical_secrecy"  # calls and recordings of the medical topic (R12d)


class ExtraPermission(enum.StrEnum):
    """The only permissions an administrator may grant on top of a role.

    Everything else comes with a role: an administrator who could grant any
    permission could grant themselves ``audit.read`` or a supervisor's access
    to recordings, and the separation of duties would be gone.
    """

    MEDICAL_SECRECY = "medical_secrecy"
    PERSONAL_DATA_VIEW = "personal_data.view"


_P = Permission
GRANTABLE_EXTRAS: Final = frozenset(Permission(p.value) for p in ExtraPermission)

ROLE_PERMISSIONS: Final[Mapping[Role, frozenset[Permission]]] = MappingProxyType(
    {
        Role.OPERATOR: frozenset({_P.CALLS_VIEW, _P.CALLS_CONTROL, _P.PERSONAL_DATA_VIEW}),
        Role.SUPERVISOR: frozenset(
            {
                _P.CALLS_VIEW,
                _P.QUEUES_VIEW,
                _P.QUEUES_CONTROL,
                _P.MONITOR,
                _P.RECORDINGS_PLAY,
                _P.RECORDINGS_DOWNLOAD,
                _P.REPORTS_VIEW,
                _P.REPORTS_EXPORT,
                _P.FEED_READ,
                _P.PERSONAL_DATA_VIEW,
            }
        ),
        Role.ADMINISTRATOR: frozenset(
            {_P.ADMIN_USERS, _P.ADMIN_CONFIG, _P.QUEUES_VIEW, _P.REPORTS_VIEW, _P.FEED_READ}
        ),
        Role.AUDITOR: frozenset({_P.REPORTS_VIEW, _P.REPORTS_EXPORT, _P.FEED_READ, _P.AUDIT_READ}),
    }
)

_BY_VALUE: Final = {p.value: p for p in Permission}


def permissions_of(role: str, extra: Iterable[str] = ()) -> frozenset[Permission]:
    """The role's permissions plus the user's extra ones (unknown names ignored)."""
    try:
        granted = ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        granted = frozenset()
    return granted | {_BY_VALUE[p] for p in extra if p in _BY_VALUE}
