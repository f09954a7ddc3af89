"""SIP message trace: every message in and out with time and addresses.

Off by default. Turned on globally or for chosen Call-IDs (at run time, e.g.
through the admin API). Lines go to a file of their own in the data directory
(mode 0600): traces hold callers' numbers, so they never go to the general
log, and the file is for the administrators who debug a trunk or a phone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from hotline.sip.peer import Peer

__all__ = ["SipTracer"]

_CALL_ID_RE = re.compile(rb"^(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE | re.MULTILINE)
MAX_TRACED_CALLS = 1000


class SipTracer:
    """Writes traced messages to ``path``; cheap when nothing is traced."""

    def __init__(self, path: Path, wall_clock: Callable[[], datetime]) -> None:
        self._path = path
        self._now = wall_clock
        self._all = False
        self._call_ids: set[str] = set()
        self._file: TextIO | None = None
        self.messages_traced = 0

    @property
    def active(self) -> bool:
        return self._all or bool(self._call_ids)

    def trace_all(self, on: bool) -> None:
        self._all = on
        if not self.active:
            self.close()

    def trace_call(self, call_id: str, on: bool = True) -> None:
        if on:
            if len(self._call_ids) >= MAX_TRACED_CALLS:
                raise ValueError(f"at most {MAX_TRACED_CALLS} calls can be traced at once")
            self._call_ids.add(call_id)
        else:
            self._call_ids.discard(call_id)
            if not self.active:
                self.close()

    def record(self, direction: str, data: bytes, peer: Peer, local: str) -> None:
        """Trace one message if tracing covers it; ``direction`` is "in" or "out"."""
        if not self._all:
            if not self._call_ids:
                return
            match = _CALL_ID_RE.search(data)
            if (
                match is None
                or match.group(1).strip().decode("utf-8", "replace") not in self._call_ids
            ):
                return
        arrow = "<-" if direction == "in" else "->"
        text = data.decode("utf-8", errors="backslashreplace")
        stamp = self._now().isoformat(timespec="milliseconds")
        self._open().write(f"{stamp} {local} {arrow} {peer} {len(data)} bytes\n{text}\n\n")
        self.messages_traced += 1

    def _open(self) -> TextIO:
        if self._file is None:
            fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
