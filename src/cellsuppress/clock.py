"""The one clock of a run: a :class:`Deadline` is created once, from the time limit, and handed
down; every part of the work gets a share of what is left of it (the shares themselves are named
in :mod:`cellsuppress.suppress.schedule`). A run without a time limit has :data:`NEVER`, which
never expires, so no caller tests for a missing limit.
"""
from __future__ import annotations

import functools
import math
import time

__all__ = ["Deadline", "NEVER"]


@functools.total_ordering
class Deadline:
    """``seconds`` from ``start`` (a ``time.perf_counter()`` value, default now); ``None``: no
    limit. ``at`` is the point in ``time.perf_counter()`` time (``inf`` without a limit);
    deadlines compare by it, so ``min(a, b)`` is the earlier one.

    >>> d = Deadline(10.0)
    >>> 9.0 < d.remaining() <= 10.0, d.expired(), d.limited
    (True, False, True)
    >>> half = d.share(0.5)
    >>> 4.0 < half.remaining() <= 5.0 and min(d, half) is half
    True
    >>> NEVER.remaining(), NEVER.expired(), NEVER.share(0.5) == NEVER, NEVER.limit(), NEVER.budget(0.5)
    (inf, False, True, None, None)
    """

    __slots__ = ("at",)

    def __init__(self, seconds: float | None = None, start: float | None = None):
        if seconds is None:
            self.at = math.inf
        else:
            self.at = (time.perf_counter() if start is None else start) + float(seconds)

    @classmethod
    def until(cls, at: float) -> Deadline:
        """The deadline at ``at``, a ``time.perf_counter()`` value."""
        d = cls()
        d.at = float(at)
        return d

    @property
    def limited(self) -> bool:
        """Whether there is a limit at all."""
        return self.at < math.inf

    def remaining(self) -> float:
        """Seconds left (0 once expired, ``inf`` without a limit)."""
        return max(0.0, self.at - time.perf_counter())

    def expired(self) -> bool:
        return time.perf_counter() >= self.at

    def share(self, fraction: float) -> Deadline:
        """The deadline after ``fraction`` of the time left."""
        if not self.limited:
            return self
        now = time.perf_counter()
        return Deadline.until(now + fraction * max(0.0, self.at - now))

    def leaving(self, fraction: float) -> Deadline:
        """The point at which ``fraction`` of the time left now is still left."""
        return self.share(1.0 - fraction)

    def budget(self, fraction: float) -> float | None:
        """``fraction`` of the seconds left, for work that starts its own clock later (None:
        no limit, and the work chooses its own)."""
        return fraction * self.remaining() if self.limited else None

    def limit(self, floor: float = 0.0) -> float | None:
        """The time limit of a solver call that is to end by this deadline: the seconds left,
        at least ``floor`` (None: no limit)."""
        return max(floor, self.remaining()) if self.limited else None

    def __eq__(self, other) -> bool:
        return isinstance(other, Deadline) and self.at == other.at

    def __lt__(self, other: Deadline) -> bool:
        return self.at < other.at

    def __hash__(self) -> int:
        return hash(self.at)

    def __repr__(self) -> str:
        return f"Deadline({self.remaining():.3f} s left)" if self.limited else "NEVER"


NEVER = Deadline()
