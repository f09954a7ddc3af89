"""The shape of a call-centre event record, shared by the store and the reports.

``hotline.reports.events.CallCentreEvent`` has this shape, and so does a row
read back from the store or a journal line; neither package may import the
other (architecture.md layers), so the protocol lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

__all__ = ["EventRecord", "PayloadValue"]

PayloadValue = str | int | float | bool | None


class EventRecord(Protocol):
    """An event as written and read back: kind and direction as their string values."""

    @property
    def event_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def call_id(self) -> str | None: ...
    @property
    def queue_id(self) -> str | None: ...
    @property
    def operator_id(self) -> str | None: ...
    @property
    def topic(self) -> str | None: ...
    @property
    def trunk(self) -> str | None: ...
    @property
    def direction(self) -> str | None: ...
    @property
    def payload(self) -> Mapping[str, PayloadValue]: ...
