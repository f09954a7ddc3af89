"""The pacer's schedule after each tick: on the 20 ms grid, no burst after a late tick."""

from __future__ import annotations

import pytest

from hotline.media.eng_pacer import MIN_TICK_GAP_S, next_tick


def test_on_time_ticks_stay_on_the_grid() -> None:
    assert next_tick(1.0, 1.0) == pytest.approx((1.02, 1.02, 0))
    assert next_tick(1.0, 1.004) == pytest.approx((1.02, 1.02, 0))


def test_a_late_tick_is_followed_by_a_short_gap_not_a_burst() -> None:
    # 15 ms late: the grid's next deadline is only 5 ms away; the wake-up waits 10 ms.
    deadline, wake_at, skipped = next_tick(1.0, 1.015)
    assert deadline == pytest.approx(1.02)
    assert skipped == 0
    assert wake_at == pytest.approx(1.015 + MIN_TICK_GAP_S)
    # Woken at 1.025, the pacer is back on the grid for the tick after.
    deadline, wake_at, skipped = next_tick(deadline, 1.025)
    assert (deadline, wake_at, skipped) == pytest.approx((1.04, 1.04, 0))


def test_missed_periods_are_skipped() -> None:
    deadline, wake_at, skipped = next_tick(1.0, 1.065)
    assert skipped == 3
    assert deadline == pytest.approx(1.08)
    assert wake_at == pytest.approx(1.08)
    deadline, wake_at, skipped = next_tick(1.0, 1.079)
    assert skipped == 3
    assert (deadline, wake_at) == pytest.approx((1.08, 1.089))


def test_a_long_run_of_ticks_does_not_drift() -> None:
    deadline, now = 0.0, 0.0
    ticks = 0
    while now < 100.0:
        # Every tick runs 3 ms late, every 7th one 17 ms late.
        now = deadline + (0.017 if ticks % 7 == 6 else 0.003)
        deadline, wake_at, skipped = next_tick(deadline, now)
        assert skipped == 0
        assert wake_at - now >= MIN_TICK_GAP_S - 1e-9
        ticks += 1
    assert ticks == pytest.approx(100.0 / 0.020, abs=1)
