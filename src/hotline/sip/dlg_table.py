"""A bounded table of dialogs (RFC 3261 §12) with Replaces matching (RFC 3891 §3).

:class:`DialogTable` maps each :class:`~hotline.sip.dialog.DialogId` to the
dialog and a value of the caller's (a session, a call leg).  It finds the
dialog of an incoming request (its To tag is our local tag, §12.2.2) or of
a response to our request, the owner of any fork of an outgoing INVITE (by
Call-ID and local tag), and matches a ``Replaces`` header.  Past its size it
refuses new dialogs with ``LimitExceededError`` (``status_hint=503``) after
dropping terminated ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from hotline.core.errors import LimitExceededError, LocalProtocolError
from hotline.sip.dialog import Dialog, DialogId, DialogState
from hotline.sip.dlg_headers import Replaces
from hotline.sip.message import SipRequest, SipResponse

__all__ = ["DEFAULT_MAX_DIALOGS", "DialogTable", "ReplacesMatch"]

#: Default bound of a :class:`DialogTable`.
DEFAULT_MAX_DIALOGS = 10_000

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ReplacesMatch(Generic[_T]):
    """The outcome of matching a Replaces header (RFC 3891 §3).

    ``status`` is None when the INVITE may replace ``dialog``; otherwise the
    response to send: 481 (no such dialog, or an early dialog we did not
    initiate), 486 (``early-only`` but the dialog is confirmed), 603 (the
    dialog has already terminated).
    """

    status: int | None
    dialog: Dialog | None = None
    value: _T | None = None


class DialogTable(Generic[_T]):
    """Dialogs by id, each with a value of the caller's (a session, a call leg).

    Bounded: :meth:`add` first drops terminated dialogs, then raises
    ``LimitExceededError`` (``status_hint=503``) when still full.
    """

    __slots__ = ("_by_local", "_entries", "_max")

    def __init__(self, max_dialogs: int = DEFAULT_MAX_DIALOGS) -> None:
        if max_dialogs < 1:
            raise LocalProtocolError("a dialog table needs room for one dialog")
        self._max = max_dialogs
        self._entries: dict[DialogId, tuple[Dialog, _T]] = {}
        self._by_local: dict[tuple[str, str], set[DialogId]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, dialog_id: object) -> bool:
        return dialog_id in self._entries

    def __iter__(self) -> Iterator[Dialog]:
        return iter([dialog for dialog, _ in self._entries.values()])

    def add(self, dialog: Dialog, value: _T) -> None:
        """Register ``dialog`` (replacing an entry with the same id)."""
        if dialog.id not in self._entries and len(self._entries) >= self._max:
            self.purge_terminated()
            if len(self._entries) >= self._max:
                raise LimitExceededError(
                    f"dialog table full ({self._max} dialogs)", status_hint=503
                )
        self._entries[dialog.id] = (dialog, value)
        self._by_local.setdefault((dialog.call_id, dialog.local_tag), set()).add(dialog.id)

    def get(self, dialog_id: DialogId) -> _T | None:
        """The value registered for ``dialog_id``."""
        entry = self._entries.get(dialog_id)
        return None if entry is None else entry[1]

    def dialog(self, dialog_id: DialogId) -> Dialog | None:
        """The dialog registered under ``dialog_id``."""
        entry = self._entries.get(dialog_id)
        return None if entry is None else entry[0]

    def remove(self, dialog_id: DialogId) -> _T | None:
        """Forget a dialog; returns its value."""
        entry = self._entries.pop(dialog_id, None)
        if entry is None:
            return None
        local = (dialog_id.call_id, dialog_id.local_tag)
        ids = self._by_local.get(local)
        if ids is not None:
            ids.discard(dialog_id)
            if not ids:
                del self._by_local[local]
        return entry[1]

    def purge_terminated(self) -> int:
        """Drop every terminated dialog; returns how many were dropped."""
        gone = [key for key, (d, _) in self._entries.items() if d.state is DialogState.TERMINATED]
        for key in gone:
            self.remove(key)
        return len(gone)

    def find_by_local_tag(self, call_id: str, local_tag: str) -> _T | None:
        """The value of any dialog with this Call-ID and our tag.

        One outgoing INVITE may own several early dialogs (forks) under one
        local tag: this finds its owner for a request on a fork the owner
        has not registered.
        """
        ids = self._by_local.get((call_id, local_tag))
        if not ids:
            return None
        return self._entries[next(iter(ids))][1]

    def find_for_request(self, request: SipRequest) -> _T | None:
        """The value of the dialog an incoming request belongs to (To tag = our tag, §12.2.2)."""
        dialog_id = DialogId.of_request(request)
        return None if dialog_id is None else self.get(dialog_id)

    def find_for_response(self, response: SipResponse) -> _T | None:
        """The value of the dialog a response to our request belongs to (From tag = our tag)."""
        dialog_id = DialogId.of_response(response)
        return None if dialog_id is None else self.get(dialog_id)

    def match_replaces(self, replaces: Replaces) -> ReplacesMatch[_T]:
        """Match ``Replaces`` (RFC 3891 §3): to-tag is our local tag, from-tag the remote one."""
        key = DialogId(replaces.call_id, replaces.to_tag, replaces.from_tag)
        entry = self._entries.get(key)
        if entry is None:
            return ReplacesMatch(481)
        dialog, value = entry
        if dialog.state is DialogState.TERMINATED:
            return ReplacesMatch(603, dialog, value)
        if dialog.state is DialogState.EARLY and not dialog.is_uac:
            return ReplacesMatch(481, dialog, value)
        if dialog.state is DialogState.CONFIRMED and replaces.early_only:
            return ReplacesMatch(486, dialog, value)
        return ReplacesMatch(None, dialog, value)
