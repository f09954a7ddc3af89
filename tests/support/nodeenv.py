"""Environment shared by the tests that spawn a real ``hotline serve`` node."""

from __future__ import annotations

__all__ = ["TEST_NODE_CAPACITY"]

#: Spawned test nodes run beside SIPp, baresip, Chromium and the test itself on two cores:
#: their capacity guard only turns calls away when the media loop is far behind (the guard's
#: own behaviour is tested with injected lateness in tests/integration/test_call_capacity.py).
TEST_NODE_CAPACITY: dict[str, str] = {
    "HOTLINE_CAPACITY__CLEAR_LATENESS_MS": "100",
    "HOTLINE_CAPACITY__BUSY_LATENESS_MS": "400",
    "HOTLINE_CAPACITY__REJECT_LATENESS_MS": "800",
}
