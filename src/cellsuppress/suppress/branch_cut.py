"""The master solved by a branch-and-cut that separates the capacity cuts at every node
(``solver="scip"``; docs/design.md, section 3).

Row generation on HiGHS re-solves the master MILP with the cuts its last integer solution
gave: its tree never sees a capacity cut at a fractional node below the root. Here the master
with every cut so far goes to a solver with lazy rows (SCIP,
:mod:`~cellsuppress.solvers.scip_bc`), whose callback is :class:`CapacityRows`: the master's
own separation (:meth:`~cellsuppress.suppress.master.Master.separate`) at each point the tree
meets. The tree's own patterns are poor (SCIP's primal heuristics are off: each of their
solutions costs a whole separation to check, and nearly all fail), so
:meth:`CapacityRows.improve` gives it the master's: the LP-guided heuristic at its first LP
point, and repairs near the incumbent of the integer points the separation cut off. Each new
incumbent becomes SCIP's solution, and its cutoff prunes the tree. Where the tree's bound
stalls (a larger three-way table, whose tree barely grows), the rest of the time goes to local
branching around the incumbent (:mod:`~cellsuppress.suppress.local_branching`) on the HiGHS
master, which has every cut SCIP's separation found. The search ends at the deadline with
SCIP's bound and the best pattern, or with a proof.
"""
from __future__ import annotations

import bisect
import time

import numpy as np
import scipy.sparse as sp

from ..solvers import Solution
from ..solvers.base import LazyRows
from . import schedule
from .local_branching import local_branching
from .master import Master, cut_rows
from .repair import guided, guided_once, repair_near


class CapacityRows(LazyRows):
    """The master's separation as lazy rows over its columns (the cells, then the sides of an
    either-side preset): the capacity cuts (with the Pareto and slice cuts of a failing integer
    point, the bridgeless rows at fractional ones), and the rule cuts under a preset with the
    rule on equation sums; each row found joins the master's pool too. Past the master's
    deadline a check stops at its first violation, and the solve is asked to stop; it is also
    asked to stop (``stalled``) when its bound rose by less than ``schedule.STALL_RISE`` of the
    gap over the last ``schedule.STALL_WINDOW`` of its time (at least ``STALL_WINDOW_MIN``
    seconds; the tree's time, not its heuristics'), with ``STALL_POLISH_MIN`` seconds or more left for local branching,
    while the tree has fewer than ``STALL_NODES`` nodes.
    Without a time limit the tree runs to its end (no stall rule: its windows are seconds), and
    the heuristics' share of its time is one of work (:meth:`Deadline.now`), so that the search
    does not depend on the machine's speed.

    :meth:`improve` makes protected patterns of the tree's points with the master's heuristics:
    first the LP-guided heuristic (:func:`~cellsuppress.suppress.repair.guided`) at the first
    LP point, given ``guide_after`` seconds if that is at most ``schedule.GUIDED_MAX`` of the
    time left; then, within ``schedule.BRANCH_AND_CUT_REPAIRS`` of the time so far, repairs near
    the incumbent of the failing integer points cheaper than it and, at nodes without one, the
    LP-guided heuristic again with the node's LP point as its guide (with a short clean-up)."""

    def __init__(self, m: Master, guide_after: float = 0.0):
        self.m = m
        self.guide_after = guide_after
        self.t0 = m.deadline.now()  # seconds with a time limit, work without
        self.repair_seconds = 0.0  # in the heuristics at the nodes (within their share) ...
        self.heuristic_seconds = 0.0  # ... and in all of them (not the tree's time)
        self.repairs = 0
        self.handed = 0  # patterns handed to the tree (each cheaper than the incumbent before it)
        self.times: list[float] = []  # when stop() was asked (seconds into the solve) ...
        self.bounds: list[float] = []  # ... and the bound on the cost then
        self.stalled = False
        # a side is held negatively by its upward cuts, a hidden cell by a rule cut (un-hide one)
        self.two_sided = np.zeros(m.n + m.n_side, dtype=bool)
        self.two_sided[m.n:] = True
        if m.p.equation_sum_rule:
            self.two_sided[:] = True

    def rows(self, x: np.ndarray, integral: bool) -> tuple[sp.csr_matrix, np.ndarray]:
        viols = self.m.separate(x, integral=integral)
        self.m.cuts.add(viols)  # for local branching, should the tree stall
        A, rhs, _ = cut_rows(self.m.p, viols, n_side=self.m.n_side)
        return A, rhs

    def stop(self, bound: float, nodes: int = 0) -> bool:
        m = self.m
        if m.deadline.expired():
            return True
        if nodes >= schedule.STALL_NODES:
            return False  # a growing tree: its bound rises in steps, and the proof is its own
        if not m.deadline.limited:
            return False
        now = time.perf_counter() - self.t0 - self.heuristic_seconds  # the tree's own time
        lower = bound - m.tb_total
        self.times.append(now)
        self.bounds.append(lower)
        window = max(schedule.STALL_WINDOW_MIN, schedule.STALL_WINDOW * now)
        if now < window or m.deadline.remaining() < schedule.STALL_POLISH_MIN or m.incumbent.x is None:
            return False
        then = self.bounds[max(0, bisect.bisect_right(self.times, now - window) - 1)]
        self.stalled = lower - then < schedule.STALL_RISE * (m.incumbent.cost - lower)
        return self.stalled

    def improve(self, x: np.ndarray, integral: bool) -> np.ndarray | None:
        m = self.m
        # under an either-side preset a pattern's sides are not known: none is handed over
        if m.n_side or m.incumbent.x is None or m.deadline.expired():
            return None
        before = m.incumbent.cost
        t = m.deadline.now()
        try:
            self._improve(x, integral)
        finally:
            self.heuristic_seconds += m.deadline.now() - t
        if m.incumbent.cost >= before:
            return None
        m.say(f"branch-and-cut: {'a repair' if integral else 'the LP-guided heuristic'} gave cost {m.incumbent.cost:g}",
              force=True)
        self.handed += 1
        return m.incumbent.x.copy()

    def _improve(self, x: np.ndarray, integral: bool) -> None:
        m = self.m
        if not integral and self.guide_after > 0:
            guided_once(m, x[:m.n], self.guide_after)
            self.guide_after = 0.0
        else:
            if integral and float(m.p.cost[x[:m.n] > 0.5].sum()) >= m.incumbent.cost - 1e-9:
                return  # a repair only adds cells to it
            if self.repair_seconds > schedule.BRANCH_AND_CUT_REPAIRS * (m.deadline.now() - self.t0):
                return
            t = m.deadline.now()
            if integral:
                repair_near(m, x[:m.n], m.incumbent.x > 0.5, m.deadline.share(schedule.REPAIR_CLEANUP))
            else:  # the node's LP point guides the heuristic: each node a different guide
                guided(m, x[:m.n], give_up=m.deadline, share=schedule.REPAIR_CLEANUP)
            self.repair_seconds += m.deadline.now() - t
            self.repairs += 1


def branch_and_cut(m: Master, guide_after: float = 0.0) -> bool:
    """Solve the master (every cut of the pool as its rows) by SCIP's branch-and-cut, from the
    incumbent, until optimality or ``schedule.BRANCH_AND_CUT_END`` of the time is left, with
    the master's heuristics at its points (:class:`CapacityRows`, ``guide_after`` as it takes
    it); its bound lifts the master's and its best pattern (which passed the attacker LPs) is offered.
    Returns whether the incumbent is proven optimal. Ctrl-C ends the solve and goes on as
    KeyboardInterrupt once its bound and pattern are taken."""
    from ..solvers.scip_bc import branch_and_cut as solve

    # under an either-side preset the incumbent's sides are not known: SCIP starts without it
    start = m.incumbent.x if m.incumbent.x is not None and not m.n_side else None
    rows = CapacityRows(m, guide_after)
    res = solve(m.cuts.snapshot(), rows,
                time_limit=m.deadline.share(1.0 - schedule.BRANCH_AND_CUT_END).limit(),
                mip_gap=m.mip_gap, mip_abs_gap=m.abs_gap, start=start)
    m.stats["mip_solves"] += 1
    m.stats["bc_nodes"] = m.stats.get("bc_nodes", 0) + res.nodes
    m.stats["bc_separations"] = m.stats.get("bc_separations", 0) + res.separations
    m.stats["bc_pool_rounds"] = m.stats.get("bc_pool_rounds", 0) + res.pool_rounds
    m.stats["bc_heuristic_runs"] = m.stats.get("bc_heuristic_runs", 0) + rows.repairs
    m.stats["bc_heuristic_patterns"] = m.stats.get("bc_heuristic_patterns", 0) + rows.handed
    m.take_bound(Solution(status=res.status, bound=res.bound))
    m.say(f"branch-and-cut: {res.status}, {res.nodes} node(s), bound {m.lower:.6g}", force=True)
    if res.x is not None:
        m.offer(np.round(res.x[:m.n]), clean=res.status == "optimal" and m.mip_gap == 0)
    if res.status == "interrupted":
        raise KeyboardInterrupt
    if res.status == "stopped" and rows.stalled and not m.closed():
        m.say("branch-and-cut: its bound stalls, local branching for the rest of the time", force=True)
        m.stats["bc_stalled"] = 1
        local_branching(m, until=m.deadline)
    return res.status == "optimal" or m.closed()
