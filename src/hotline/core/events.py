"""Base of the facts that flow up on the in-process bus.

Every event is a frozen, slotted dataclass, complete when created, named in
the past tense.  Packages define their own events by subclassing
:class:`Event`; the bus routes by class (and base classes), so a subscriber
may listen to one event type or to a whole family.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["ComponentStateChanged", "Event"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A fact that happened at ``at`` (aware UTC)."""

    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentStateChanged(Event):
    """A service component started, began draining or stopped."""

    component: str
    state: str
