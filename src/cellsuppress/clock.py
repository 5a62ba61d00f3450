"""The one clock of a run: a :class:`Deadline` is created once, from the time limit, and handed
down; every part of the work gets a share of what is left of it (the shares themselves are named
in :mod:`cellsuppress.suppress.schedule`). A run without a time limit has :data:`NEVER`, which
never expires, so no caller tests for a missing limit.

A deadline also knows the ``end`` of the run it belongs to: a part of the work that needs some
minimum time (a solver call's floor, a stage's least seconds) may run past its own deadline, but
never past that end. A deadline made from seconds alone is its own end; one derived from another
(:meth:`Deadline.share`, :meth:`Deadline.leaving`, or made ``within`` it) keeps the other's end.

A run without a time limit must give the same pattern on a fast machine and a slow one, so it
never decides anything by the seconds a part took: its parts measure themselves in *work*
instead, the units the solvers count as they solve (:func:`tick`, :func:`work`: a solve's
iterations times its size, the same on every machine), and a budget of its own is a deadline on
that count (:meth:`Deadline.of_work`). :meth:`Deadline.now` and :meth:`Deadline.after` read and
set whichever clock a deadline runs on: seconds with a limit, work without.
"""
from __future__ import annotations

import functools
import math
import threading
import time

__all__ = ["Deadline", "NEVER", "tick", "work"]

_work = threading.local()  # .done: the work of this thread


def tick(units: float) -> None:
    """Count ``units`` of work done by this thread (a solver's count, never a measured time)."""
    _work.done = getattr(_work, "done", 0.0) + float(units)


def work() -> float:
    """The work done by this thread so far: the clock of a run without a time limit. It is the
    same for the same solves on any machine, loaded or not, and one thread's runs never see
    another's (runs of ``protect`` in threads of one process, as on a Dask worker); a solve
    made in another thread on this one's behalf hands its work back to it
    (:class:`~cellsuppress.solvers.background.BackgroundSolve`)."""
    return getattr(_work, "done", 0.0)


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

    A deadline on the work clock expires once that much work is done, whatever the seconds:

    >>> w = Deadline.of_work(10.0)
    >>> w.expired(), w.limited, w.limit(), w == NEVER
    (False, False, None, False)
    >>> tick(10.0); w.expired()
    True
    >>> min(Deadline.of_work(5.0), Deadline.of_work(3.0)).work_at - work()
    3.0

    A floor stretches a deadline up to the end of its run, no further:

    >>> 4.0 < half.limit(floor=8.0) <= 8.0, 9.0 < half.limit(floor=30.0) <= 10.0
    (True, True)
    >>> 9.0 < Deadline(30.0, within=half).remaining() <= 10.0
    True

    ``cap`` gives a stage its own seconds, never past the deadline it is part of:

    >>> 1.0 < half.cap(2.0).remaining() <= 2.0, 4.0 < half.cap(30.0).remaining() <= 5.0
    (True, True)

    ``at_least`` is the one floor that may pass the end of the run:

    >>> 29.0 < half.at_least(30.0).remaining() <= 30.0, 4.0 < half.at_least(1.0).remaining() <= 5.0
    (True, True)
    >>> NEVER.at_least(30.0) is NEVER
    True
    """

    __slots__ = ("at", "end", "work_at")

    def __init__(self, seconds: float | None = None, start: float | None = None, within: Deadline | None = None):
        """``within``: the deadline whose run this one belongs to; it ends no later than that
        run (and may stretch to its end). Without it, the deadline is a run of its own."""
        at = math.inf if seconds is None else (time.perf_counter() if start is None else start) + float(seconds)
        self.end = at if within is None else within.end
        self.at = min(at, self.end)
        self.work_at = math.inf if within is None else within.work_at

    @classmethod
    def of_work(cls, units: float, within: Deadline | None = None) -> Deadline:
        """The deadline after ``units`` more of work (:func:`work`): the budget of a part of a
        run without a time limit, the same on a fast machine and a slow one (``within``: no
        later than that deadline either)."""
        d = cls() if within is None else cls.until(within.at, within=within)
        d.work_at = min(d.work_at, work() + float(units))
        return d

    @classmethod
    def until(cls, at: float, within: Deadline | None = None) -> Deadline:
        """The deadline at ``at``, a ``time.perf_counter()`` value (``within`` as for the constructor)."""
        return cls(float(at) - time.perf_counter(), within=within)

    @property
    def limited(self) -> bool:
        """Whether there is a limit at all."""
        return self.at < math.inf

    def to_end(self) -> float:
        """Seconds left to the end of the run (``inf`` without a limit)."""
        return max(0.0, self.end - time.perf_counter())

    def remaining(self) -> float:
        """Seconds left (0 once expired, ``inf`` without a limit)."""
        return max(0.0, self.at - time.perf_counter())

    def expired(self) -> bool:
        return time.perf_counter() >= self.at or work() >= self.work_at

    def now(self) -> float:
        """The reading of the clock this deadline runs on: ``time.perf_counter()`` with a time
        limit, :func:`work` without one (a part of a run without a limit is measured in work,
        so that nothing it decides depends on the machine's speed)."""
        return time.perf_counter() if self.limited else work()

    def after(self, amount: float) -> Deadline:
        """``amount`` on this deadline's clock (:meth:`now`) from now: seconds within it with a
        time limit, work without one."""
        return Deadline(amount, within=self) if self.limited else Deadline.of_work(amount, within=self)

    def share(self, fraction: float) -> Deadline:
        """The deadline after ``fraction`` of the time left."""
        if not self.limited:
            return self
        now = time.perf_counter()
        return Deadline.until(now + fraction * max(0.0, self.at - now), within=self)

    def leaving(self, fraction: float) -> Deadline:
        """The point at which ``fraction`` of the time left now is still left."""
        return self.share(1.0 - fraction)

    def cap(self, seconds: float) -> Deadline:
        """``seconds`` from now, or this deadline if it comes first (``seconds`` is a stage's
        time, this deadline the end of the work the stage is part of)."""
        return min(Deadline(seconds, within=self), self)

    def at_least(self, seconds: float) -> Deadline:
        """This deadline, or ``seconds`` from now if that is later, even past the end of the run
        (a run of its own): for the few parts that, cut short, leave slower work to the end of
        the run or a far worse result (each such floor says why in
        :mod:`~cellsuppress.suppress.schedule`). Without a limit, no limit."""
        if not self.limited:
            return self
        return Deadline(max(self.remaining(), seconds))

    def budget(self, fraction: float) -> float | None:
        """``fraction`` of the seconds left, for work that starts its own clock later (None:
        no limit, and the work chooses its own)."""
        return fraction * self.remaining() if self.limited else None

    def limit(self, floor: float = 0.0) -> float | None:
        """The time limit of a solver call that is to end by this deadline: the seconds left, at
        least ``floor`` but never past the end of the run (None: no limit)."""
        if not self.limited:
            return None
        return min(max(floor, self.remaining()), self.to_end())

    def __eq__(self, other) -> bool:
        return isinstance(other, Deadline) and self.at == other.at and self.work_at == other.work_at

    def __lt__(self, other: Deadline) -> bool:
        # by both clocks, as __eq__: min() of two work budgets keeps the smaller
        return (self.at, self.work_at) < (other.at, other.work_at)

    def __hash__(self) -> int:
        return hash((self.at, self.work_at))

    def __repr__(self) -> str:
        if self.limited:
            return f"Deadline({self.remaining():.3f} s left)"
        return "NEVER" if self.work_at == math.inf else f"Deadline({self.work_at - work():.0f} work left)"


NEVER = Deadline()
