"""The shared sliding-window rate limiter, with a fake clock and with real threads."""

from __future__ import annotations

import threading
import time

import pytest

from ingest.pxweb.ratelimit import RateLimiter


class FakeClock:
    """A clock that only moves when someone sleeps (thread-safe)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds
        time.sleep(0)  # let other threads run


def max_in_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    return max(sum(1 for t in starts if s <= t < s + window) for s in starts)


def test_blocks_the_call_over_the_limit_until_the_window_slides() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, 10.0, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire() == pytest.approx(10.0)
    clock.sleep(4.0)
    assert limiter.acquire() == pytest.approx(14.0)  # a slot freed up: no wait


def test_never_more_than_n_starts_per_window_under_many_threads() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(12):
            start = limiter.acquire()  # the start time, taken under the limiter's lock
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(starts) == 96
    assert max_in_window(starts, 1.0) <= 5
    # And the limiter does not hold back more than needed: 96 starts at 5 per second.
    assert max(starts) <= 96 / 5 + 1.0


def test_penalize_makes_every_caller_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 1.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.penalize(7.5)
    assert limiter.acquire() == pytest.approx(7.5)
    assert limiter.acquire() == pytest.approx(7.5)  # the penalty is over; the budget is large
    limiter.penalize(0)
    assert limiter.acquire() == pytest.approx(7.5)


def test_margin_widens_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 1.0, margin=0.25, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(1.25)


def test_real_clock_with_threads() -> None:
    limiter = RateLimiter(4, 0.3)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            start = limiter.acquire()
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 12 starts at 4 per 0.3 s: the last batch cannot start before 0.6 s.
    assert time.monotonic() - began >= 0.6 - 0.01
    assert max_in_window(starts, 0.3) <= 4
