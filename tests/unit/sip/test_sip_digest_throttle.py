"""FailureThrottle: sliding window, bans, bounded memory (fake time as plain floats)."""

from __future__ import annotations

import pytest

from hotline.core.errors import ConfigurationError
from hotline.sip.digest import FailureThrottle

SRC = "198.51.100.7"


def make() -> FailureThrottle:
    return FailureThrottle(max_failures=3, window_s=10.0, ban_s=60.0, max_tracked=4)


def test_bans_on_the_nth_failure_within_the_window() -> None:
    throttle = make()
    assert [throttle.record_failure(SRC, t) for t in (0.0, 1.0, 2.0)] == [False, False, True]
    assert throttle.is_banned(SRC, 2.0)
    assert throttle.ban_expires_at(SRC, 2.0) == 62.0
    assert throttle.bans_total == 1
    assert not throttle.is_banned("203.0.113.1", 2.0)


def test_failures_spread_beyond_the_window_do_not_ban() -> None:
    throttle = make()
    results = [throttle.record_failure(SRC, t) for t in (0.0, 6.0, 10.0, 16.0, 20.0)]
    assert results == [False, False, False, False, False]
    assert not throttle.is_banned(SRC, 20.0)
    assert throttle.record_failure(SRC, 21.0)  # 16, 20, 21 are within 10 s


def test_ban_expires() -> None:
    throttle = make()
    for t in (0.0, 1.0, 2.0):
        throttle.record_failure(SRC, t)
    assert throttle.is_banned(SRC, 61.9)
    assert not throttle.is_banned(SRC, 62.0)
    assert throttle.ban_expires_at(SRC, 62.0) is None
    assert not throttle.record_failure(SRC, 63.0)  # counting starts afresh
    assert throttle.bans_total == 1


def test_failures_while_banned_do_not_extend_the_ban() -> None:
    throttle = make()
    for t in (0.0, 1.0, 2.0):
        throttle.record_failure(SRC, t)
    assert not throttle.record_failure(SRC, 30.0)
    assert throttle.ban_expires_at(SRC, 30.0) == 62.0
    assert throttle.bans_total == 1


def test_success_forgets_failures() -> None:
    throttle = make()
    throttle.record_failure(SRC, 0.0)
    throttle.record_failure(SRC, 1.0)
    throttle.record_success(SRC, 2.0)
    assert not throttle.record_failure(SRC, 3.0)
    assert not throttle.record_failure(SRC, 4.0)
    assert throttle.record_failure(SRC, 5.0)


def test_memory_is_bounded() -> None:
    throttle = make()
    for i in range(10):
        throttle.record_failure(f"192.0.2.{i}", float(i))
    assert throttle.tracked_sources == 4
    assert throttle.evictions_total == 6
    # the oldest sources were dropped, the newest kept their counts
    assert not throttle.record_failure("192.0.2.9", 10.0)
    assert throttle.record_failure("192.0.2.9", 10.5)


def test_bans_are_bounded_and_counted() -> None:
    throttle = make()
    for i in range(6):
        for t in (0.0, 0.1, 0.2):
            throttle.record_failure(f"192.0.2.{i}", float(i) + t)
    assert throttle.bans_total == 6
    assert throttle.active_bans(6.0) == 4
    assert not throttle.is_banned("192.0.2.0", 6.0)  # evicted: the earliest to expire
    assert throttle.is_banned("192.0.2.5", 6.0)


def test_purge_drops_expired_entries() -> None:
    throttle = make()
    throttle.record_failure("192.0.2.1", 0.0)
    for t in (0.0, 0.1, 0.2):
        throttle.record_failure(SRC, t)
    assert throttle.tracked_sources == 1
    throttle.purge(100.0)
    assert throttle.tracked_sources == 0
    assert throttle.active_bans(100.0) == 0


@pytest.mark.parametrize(
    ("max_failures", "window_s", "ban_s", "max_tracked", "setting"),
    [
        (0, 10.0, 60.0, 4, "max_failures"),
        (3, 0.0, 60.0, 4, "window_s"),
        (3, 10.0, -1.0, 4, "ban_s"),
        (3, 10.0, 60.0, 0, "max_tracked"),
    ],
)
def test_configuration_errors(
    max_failures: int, window_s: float, ban_s: float, max_tracked: int, setting: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        FailureThrottle(max_failures, window_s, ban_s, max_tracked)
    assert info.value.setting == setting
