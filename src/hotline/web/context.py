"""What the routes of the web layer share: plain dependencies, stored on the app.

``create_web_app`` builds one :class:`WebContext` and puts it on
``app.state.web``; a route reaches it with :func:`hotline.web.auth.context_of`.
No globals: two apps in one process (tests) never share anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from starlette.templating import Jinja2Templates

from hotline.calls.api import CallActions, QueueActions
from hotline.core.clock import Clock
from hotline.store.audit import AuditLog
from hotline.store.db import Database
from hotline.store.web_sessions import WebSessionStore
from hotline.web.config import WebConfig
from hotline.web.i18n import Catalogue

__all__ = ["WebContext"]


@dataclass(frozen=True, slots=True)
class WebContext:
    """The web layer's dependencies (see the module docstring)."""

    config: WebConfig
    db: Database
    clock: Clock
    sessions: WebSessionStore
    audit: AuditLog
    catalogue: Catalogue
    templates: Jinja2Templates
    hasher: PasswordHasher
    dummy_hash: str  # checked for unknown usernames, so that timing does not tell
    calls: CallActions | None = None
    queues: QueueActions | None = None
