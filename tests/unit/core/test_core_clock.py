from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotline.core.clock import FakeClock, SystemClock


def test_fake_clock_advances_both_times_together() -> None:
    clock = FakeClock(start_monotonic=5.0, start_wall=datetime(2026, 3, 1, tzinfo=UTC))
    clock.advance(1.5)
    assert clock.monotonic() == 6.5
    assert clock.utcnow() == datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=1.5)


def test_fake_clock_never_goes_back() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-0.1)


def test_fake_clock_needs_aware_wall_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        FakeClock(start_wall=datetime(2026, 1, 1))


def test_system_clock_is_monotonic_and_utc() -> None:
    clock = SystemClock()
    a = clock.monotonic()
    assert clock.monotonic() >= a
    assert clock.utcnow().tzinfo is UTC
