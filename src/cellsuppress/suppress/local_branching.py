"""Local branching inside the master (Fischetti and Lodi 2003): cheaper protected patterns near the
incumbent, from solves of the master restricted to a neighbourhood of it.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import scipy.sparse as sp

from ..clock import Deadline
from ..solvers.background import BackgroundSolve
from . import schedule
from .master import Master
from .repair import repair_near


def local_branching(m: Master, until: Deadline, k: int = 20) -> None:
    """Look for cheaper protected patterns near the incumbent until ``until``, starting with
    neighbourhoods of ``k`` cells.

    Each solve is the master with two more rows: at most ``k`` cells may change from the
    incumbent's pattern, and the cost must drop (local branching, Fischetti and Lodi 2003).
    Its solution is separated (the cuts are valid everywhere and stay) and repaired near the
    incumbent; a cheaper pattern becomes the new centre. A neighbourhood with nothing
    cheaper left in it grows by half; once it is the whole space, the incumbent is optimal
    (the lower bound says so). A neighbourhood in which a solve finds no solution in time
    halves, and so does one (down to 5 cells) whose solutions' repairs gave nothing cheaper
    twice in a row. The bounds found under the two rows hold only near the centre and are
    not kept.

    On a backend that solves in another thread, the next neighbourhood is solved there while
    this thread repairs the last solution (beside the bound's copies, if they run): a solve and
    a repair take about as long, and most repairs that improve end in a new centre, so the
    solve that ran alongside belongs to the previous one; its solution is still a cheap master
    solution to separate and repair. On a backend that cannot solve in another thread (PuLP),
    the two rows are added to the master itself and removed after each solve.
    """
    free = m.p.free
    ahead = m.can_solve_in_background
    near = pending = None  # the solve waited for, and the next one solving ahead
    repair_took = 0.0  # a solution found with no time left to repair it is wasted
    misses = 0  # repairs in a row that gave no cheaper pattern
    try:
        while m.incumbent.x is not None:
            m.bound.poll()
            limit = min(schedule.NEAR_SOLVE, until.remaining() - repair_took)
            if m.closed() or limit <= 0.0:
                return
            near = pending if pending is not None else NearSolve(m, free, k, limit)
            pending = None
            sol = near.solution(wait=1.0)
            while sol is None:  # meanwhile a copy solved for the bound may have ended
                m.bound.poll()
                sol = near.solution(wait=1.0)
            m.stats["polish_solves"] += 1
            current = near.centre_cost == m.incumbent.cost  # not a solve that ran ahead of a new centre
            if sol.status == "infeasible":
                if current and k >= free.sum():  # the whole space holds nothing cheaper
                    m.lower = max(m.lower, near.cutoff)
                    return
                if current:
                    k = int(np.ceil(1.5 * k))
                continue
            if not sol.has_solution:
                if current:  # not even a solution in time: a smaller neighbourhood
                    k = max(2, k // 2)
                continue
            xv = np.round(sol.x)
            viols = m.separate(xv, integral=True)
            before = m.incumbent.cost
            m.say(f"local branching (k={near.k}): {sol.status} at cost {float(m.p.cost[xv[:m.n] > 0.5].sum()):g}, "
                  f"{len({(v.cell, v.kind) for v in viols})} violated")
            if not viols:
                m.offer(xv[:m.n])
            else:
                m.cuts.add(viols)
                if ahead:
                    pending = NearSolve(m, free, k, min(schedule.NEAR_SOLVE, until.remaining()))
                t = time.perf_counter()
                repair_near(m, xv[:m.n], m.incumbent.x > 0.5, until)
                repair_took = time.perf_counter() - t
            if m.incumbent.cost < before:
                m.say(f"local branching (k={near.k}): cost {m.incumbent.cost:g}", force=True)
                misses = 0
            elif viols and current:
                misses += 1
                if misses == 2 and k > 5:
                    # repairs of solutions at this distance stopped paying: look closer
                    k, misses = max(5, k // 2), 0
                    m.say(f"local branching: two repairs in a row gave nothing, k={k}")
    finally:  # no solve is left running (its result is of no use after the return, or on Ctrl-C)
        for job in (near, pending):
            if job is not None:
                job.stop()


class NearSolve:
    """One solve of :func:`local_branching`: the master within ``k`` cells of the incumbent
    and cheaper than it. On a backend that solves in another thread, a copy of the master
    without the cuts that hold throughout the neighbourhood (:func:`rows_kept_near`), solved
    there (the caller may work meanwhile: ``solution`` waits); otherwise on the master
    itself, now, with the two rows added and removed."""

    def __init__(self, m: Master, free: np.ndarray, k: int, limit: float):
        centre = m.incumbent.x > 0.5
        self.k, self.centre_cost = k, m.incumbent.cost
        self.cutoff = m.cutoff
        # sum over the centre's free cells of (1 - x) + sum over the others of x <= k
        near = np.where(centre, -1.0, 1.0) * free
        rows = sp.csr_matrix(np.vstack([near, m.p.cost]))
        if m.n_side:
            rows = sp.hstack([rows, sp.csr_matrix((2, m.n_side))], format="csr")
        lo = np.full(2, -np.inf)
        hi = np.array([k - float((centre & free).sum()), self.cutoff])
        options = dict(time_limit=limit, mip_gap=0.0, mip_abs_gap=m.abs_gap)
        self.job: BackgroundSolve | None = None
        self.sol = None
        if m.can_solve_in_background:
            lp = m.cuts.snapshot()
            # most cuts are covers of hundreds of cells, many of them hidden in the centre: most
            # rows hold throughout the neighbourhood, and without them the solve is far faster
            # than one of the whole master
            keep = rows_kept_near(lp.A, lp.row_lo, centre, free, k)
            lp = dataclasses.replace(lp, A=sp.vstack([lp.A[keep], rows], format="csr"),
                                     row_lo=np.concatenate([lp.row_lo[keep], lo]),
                                     row_hi=np.concatenate([lp.row_hi[keep], hi]),
                                     feasible_at_upper=False)  # the neighbourhood's rows may not hold there
            self.job = BackgroundSolve(lp, m.solver, **options)
        else:
            first = m.model.n_rows
            m.model.add_rows(rows, lo, hi)
            try:
                self.sol = m.model.solve(**options)
            finally:
                m.model.delete_rows(np.array([first, first + 1]))

    def solution(self, wait: bool | float = True):
        """The solve's solution (None if it still runs after ``wait``, as for
        :meth:`BackgroundSolve.result`)."""
        return self.sol if self.job is None else self.job.result(wait=wait)

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()


def rows_kept_near(A: sp.spmatrix, lo: np.ndarray, centre: np.ndarray, movable: np.ndarray,
                   k: int) -> np.ndarray:
    """Which rows of ``A x >= lo`` a 0/1 point ``x`` can violate when it differs from the 0/1
    point ``centre`` (one entry per cell; further columns, e.g. the chosen sides, are free) in at
    most ``k`` of the ``movable`` cells and the others keep their values. A row with no
    negative coefficient and none on further columns holds for all of them when it holds
    after the ``k`` largest of its coefficients on the centre's movable cells are taken away
    (turning a cell on never lowers it); every other row is kept.

    >>> A = sp.csr_matrix([[1., 1., 1.], [1., 0., 0.], [0., 0., 2.]])
    >>> rows_kept_near(A, np.array([1., 1., 1.]), np.array([1., 1., 0.]), np.ones(3, bool), 1)
    array([False,  True,  True])
    """
    A = sp.csr_matrix(A)
    centre = np.asarray(centre) > 0.5
    n, nr = centre.size, A.shape[0]
    row = np.repeat(np.arange(nr), np.diff(A.indptr))
    col, v = A.indices, A.data
    cell = col < n
    on = np.zeros(A.shape[1], dtype=bool)
    on[:n] = centre
    act = np.bincount(row, weights=np.where(on[col], v, 0.0), minlength=nr)
    # the k largest coefficients per row on the centre's movable cells: sorted within rows
    mv = np.zeros(A.shape[1], dtype=bool)
    mv[:n] = centre & movable
    sel = mv[col]
    r, w = row[sel], v[sel]
    order = np.lexsort((-w, r))
    r, w = r[order], w[order]
    rank = np.arange(r.size) - np.searchsorted(r, r)
    loss = np.bincount(r[rank < k], weights=w[rank < k], minlength=nr)
    judged = ((np.bincount(row, weights=(v < 0) | ~cell, minlength=nr) == 0)
              & np.isfinite(lo))
    holds = judged & (act - loss >= lo - 1e-9 * np.maximum(1.0, np.abs(lo)))
    return ~holds
