"""Typed identifiers.  Ids are plain strings at run time; ``NewType`` keeps
them apart for the type checker so a queue id is never passed as a call id."""

from __future__ import annotations

import secrets
from typing import NewType

__all__ = [
    "CallId",
    "LegId",
    "OperatorId",
    "QueueId",
    "TopicId",
    "TrunkId",
    "UserId",
    "new_call_id",
    "new_leg_id",
]

CallId = NewType("CallId", str)
LegId = NewType("LegId", str)
QueueId = NewType("QueueId", str)
OperatorId = NewType("OperatorId", str)
TopicId = NewType("TopicId", str)
TrunkId = NewType("TrunkId", str)
UserId = NewType("UserId", str)


def new_call_id() -> CallId:
    """A fresh, unguessable call id (16 hex characters)."""
    return CallId(secrets.token_hex(8))


def new_leg_id() -> LegId:
    """A fresh leg id (12 hex characters)."""
    return LegId(secrets.token_hex(6))
