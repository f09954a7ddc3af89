from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline.sip.peer import Peer, TransportKind
from hotline.sip.trace import MAX_TRACED_CALLS, SipTracer

PEER = Peer(TransportKind.UDP, "192.0.2.1", 5060)
MSG_A = b"OPTIONS sip:a SIP/2.0\r\nCall-ID: call-a\r\n\r\n"
MSG_B = b"OPTIONS sip:b SIP/2.0\r\ni: call-b\r\n\r\n"


def _tracer(tmp_path: Path) -> SipTracer:
    return SipTracer(tmp_path / "trace.log", lambda: datetime(2026, 1, 1, tzinfo=UTC))


def test_off_by_default_writes_nothing(tmp_path: Path) -> None:
    tracer = _tracer(tmp_path)
    tracer.record("in", MSG_A, PEER, "udp:0.0.0.0:5060")
    assert not (tmp_path / "trace.log").exists()
    assert tracer.messages_traced == 0


def test_per_call_trace_matches_long_and_compact_call_id(tmp_path: Path) -> None:
    tracer = _tracer(tmp_path)
    tracer.trace_call("call-b")
    tracer.record("in", MSG_A, PEER, "udp:0.0.0.0:5060")
    tracer.record("out", MSG_B, PEER, "udp:0.0.0.0:5060")
    tracer.close()
    text = (tmp_path / "trace.log").read_text(encoding="utf-8")
    assert "call-a" not in text and "call-b" in text
    assert "-> udp:192.0.2.1:5060" in text and "2026-01-01T00:00:00.000+00:00" in text
    assert stat.S_IMODE((tmp_path / "trace.log").stat().st_mode) == 0o600


def test_global_trace_and_bounded_call_list(tmp_path: Path) -> None:
    tracer = _tracer(tmp_path)
    tracer.trace_all(True)
    tracer.record("in", MSG_A, PEER, "l")
    tracer.record("in", MSG_B, PEER, "l")
    assert tracer.messages_traced == 2
    tracer.trace_all(False)
    for n in range(MAX_TRACED_CALLS):
        tracer.trace_call(f"c{n}")
    with pytest.raises(ValueError, match="at most"):
        tracer.trace_call("one-too-many")
