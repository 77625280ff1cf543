"""Retry schedule and response classification (pure: no clock, no IO).

Per the platform contract: 2xx and 409 are delivered; 408, 429, 5xx, timeouts and connection
errors are retried with exponential backoff and jitter (1 s doubling to a cap of a few
minutes), honouring `Retry-After`; any other 4xx is permanent (dead letter).
"""
from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from typing import Literal

Kind = Literal["ok", "retry", "dead"]


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    status: int | None = None  # HTTP status; None for transport errors
    detail: str = ""  # error text or response body (never secrets)
    retry_after: float | None = None  # seconds the server asked us to wait


def classify(status: int) -> Kind:
    if 200 <= status < 300 or status == 409:
        return "ok"
    if status in (408, 429) or 500 <= status < 600:
        return "retry"
    if 400 <= status < 500:
        return "dead"
    return "retry"  # 1xx/3xx from a misbehaving proxy: try again later rather than lose data


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); `now` is epoch seconds."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


class RetrySchedule:
    """Delay before retry number `attempt` (1, 2, …): initial_s doubling up to max_s, then
    scaled by a random factor in [1 - jitter, 1] so that many boxes coming back after the same
    outage don't knock on the platform's door in the same second. A Retry-After from the
    server is honoured, up to `retry_after_cap_s` (an hour by default, so a broken header
    cannot park the queue for days)."""

    def __init__(self, initial_s: float = 1.0, max_s: float = 300.0, jitter: float = 0.3,
                 rng: random.Random | None = None, retry_after_cap_s: float = 3600.0):
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("need 0 < initial_s <= max_s")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.initial_s, self.max_s, self.jitter = initial_s, max_s, jitter
        self.rng = rng or random.Random()
        self.retry_after_cap_s = retry_after_cap_s

    def base(self, attempt: int) -> float:
        if attempt < 1:
            return 0.0
        # cap the exponent: 2**1000 would overflow a float long after max_s is reached
        return min(self.max_s, self.initial_s * 2.0 ** min(attempt - 1, 60))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        d = self.base(attempt) * (1.0 - self.jitter * self.rng.random())
        if retry_after is not None:
            d = max(d, min(float(retry_after), self.retry_after_cap_s))
        return d
