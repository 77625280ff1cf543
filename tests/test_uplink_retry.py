"""Retry schedule and response classification (pure, deterministic)."""
import email.utils
import random

import pytest

from edge.uplink import RetrySchedule, classify, parse_retry_after


@pytest.mark.parametrize("status,kind", [
    (200, "ok"), (201, "ok"), (204, "ok"), (409, "ok"),
    (408, "retry"), (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"), (599, "retry"),
    (400, "dead"), (401, "dead"), (403, "dead"), (404, "dead"), (413, "dead"), (415, "dead"), (422, "dead"),
])
def test_classify_per_contract(status, kind):
    assert classify(status) == kind


def test_backoff_doubles_to_cap_with_jitter():
    s = RetrySchedule(1.0, 60.0, jitter=0.3, rng=random.Random(7))
    assert [s.base(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    for n in range(1, 12):
        d = [s.delay(n) for _ in range(200)]
        assert min(d) >= 0.7 * s.base(n) - 1e-9 and max(d) <= s.base(n) + 1e-9
        assert max(d) - min(d) > 0.1 * s.base(n)  # really jittered
    assert s.base(10_000) == 60.0  # no overflow


def test_retry_after_is_honoured_up_to_an_hour():
    s = RetrySchedule(1.0, 300.0, rng=random.Random(1))
    assert s.delay(1, retry_after=30) == 30
    assert s.delay(1, retry_after=900) == 900  # beyond max_s: the server knows its maintenance window
    assert s.delay(1, retry_after=0) <= 1.0
    assert s.delay(1, retry_after=86400) == 3600.0
    assert s.delay(9, retry_after=2) >= 0.7 * 256  # backoff longer than Retry-After wins


def test_parse_retry_after_seconds_and_http_date():
    now = 1_800_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after(email.utils.formatdate(now + 42, usegmt=True), now) == pytest.approx(42, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 42, usegmt=True), now) == 0.0
    assert parse_retry_after(None, now) is None and parse_retry_after("soon", now) is None


def test_bad_schedules_rejected():
    with pytest.raises(ValueError):
        RetrySchedule(10, 1)
    with pytest.raises(ValueError):
        RetrySchedule(1, 10, jitter=1.5)
