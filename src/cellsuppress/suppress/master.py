"""The master problem of the optimal method on a live backend model (docs/design.md): its pool of
capacity cuts, the incumbent (the cheapest pattern known to pass every attacker LP), the lower
bound, and the copies of it solved in another thread for that bound.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from ..clock import NEVER, Deadline
from ..errors import InfeasibleError
from ..solvers import LinearProgram, make_model
from ..solvers.background import BackgroundSolve, SolveThread
from . import schedule
from .batch import check_certified
from .cleanup import minimal
from .cuts_bridgeless import BridgelessCuts
from .model import CutRow, cut_matrix, master_program, side_rows
from .problem import Problem, integral_costs, tie_break
from .separation import ParetoCuts, Separator, SliceCuts, Violation, equation_sum_disclosures

TOL = 1e-6
# with costs that are not whole numbers, the step of cost (relative) below the incumbent's under
# which a pattern is cheaper: the local branching neighbourhoods' "cheaper" row
CUTOFF_STEP = 1e-6


class MasterLost(Exception):
    """A solve of the master's model did not end when asked and is left running: the model can
    no longer be used, and the search ends with the incumbent it has."""


class CutPool:
    """The cuts added to the master's model, each once (by cell, kind and coefficients). Under an
    either-side preset a cut of one side holds only when that side is chosen (:func:`side_rows`).

    At the root a cut that has had slack at the LP's point for a few rounds leaves the live model
    (:meth:`prune`): the LP then stays small and its rounds cheap. It stays in the pool, comes
    back when a point violates it (:meth:`revive`, or :meth:`add` when a separation finds it
    again, or with every pruned cut for the MILP rounds, :meth:`restore`), and every copy of the
    master (:meth:`snapshot`) has it."""

    def __init__(self, p: Problem, lp: LinearProgram, model, n_side: int, stats: dict):
        self.p, self.lp, self.model, self.n_side = p, lp, model, n_side
        self.stats = stats  # the master's counts: ``cuts`` is the number of rows added
        self.rows: list[tuple[sp.csr_matrix, np.ndarray]] = []  # what add() gave the model
        self.seen: set = set()
        self.base = model.n_rows  # the rows before the cuts (the model's own)
        self.live = _Cuts(lp.c.size)  # in the model, in its order after ``base``
        self.parked = _Cuts(lp.c.size)  # pruned from the model

    def add(self, viols: list[Violation]) -> int:
        """Add the cuts not yet in the model (new, or pruned before); returns how many."""
        if not viols:
            return 0
        # coefficients below 1e-9 are round-off: dropped, and the rest rounded for the key
        coef = [v.coef.without_below(1e-9) for v in viols]
        keys = [hash((v.cell, v.kind, c.cols.tobytes(), np.round(c.vals, 9).tobytes())) for v, c in zip(viols, coef)]
        back = self._unpark(np.isin(self.parked.keys, keys)) if self.parked.size else 0
        fresh = [i for i, k in enumerate(keys) if k not in self.seen]
        self.seen.update(keys)
        if not fresh:
            return back
        A, rhs, order = cut_rows(self.p, [viols[i] for i in fresh], [coef[i] for i in fresh], self.n_side)
        keys = [keys[fresh[i]] for i in order]
        self.model.add_rows(A, rhs, np.full(rhs.size, np.inf))
        self.live.append(A, rhs, np.array(keys, dtype=np.int64))
        self.rows.append((A, rhs))
        self.stats["cuts"] += rhs.size
        return back + rhs.size

    def prune(self, x: np.ndarray, after: int) -> int:
        """Take out of the model the cuts with slack at ``x`` (the LP's point) for ``after`` rounds
        in a row; returns how many went."""
        if not self.live.size:
            return 0
        slack = self.live.A @ x - self.live.rhs
        self.live.idle = np.where(slack > TOL * np.maximum(1.0, np.abs(self.live.rhs)), self.live.idle + 1, 0)
        out = self.live.idle >= after
        if not out.any():
            return 0
        self.model.delete_rows(self.base + np.flatnonzero(out))
        self.parked.append(*self.live.take(out))
        return int(out.sum())

    def revive(self, x: np.ndarray) -> int:
        """Put back into the model the pruned cuts that ``x`` violates; returns how many."""
        if not self.parked.size:
            return 0
        return self._unpark(self.parked.A @ x < self.parked.rhs - TOL * np.maximum(1.0, np.abs(self.parked.rhs)))

    def restore(self) -> int:
        """Put every pruned cut back into the model (for its MILP solves: the root prunes cuts
        with slack at its fractional points, which integer points violate again); returns how
        many."""
        return self._unpark(np.ones(self.parked.size, dtype=bool)) if self.parked.size else 0

    def _unpark(self, mask: np.ndarray) -> int:
        if not mask.any():
            return 0
        A, rhs, keys = self.parked.take(mask)
        self.model.add_rows(A, rhs, np.full(rhs.size, np.inf))
        self.live.append(A, rhs, keys)
        return rhs.size

    def snapshot(self) -> LinearProgram:
        """The master program with every cut so far, pruned or not (not local branching's rows)."""
        lp = self.lp
        A = sp.vstack([lp.A] + [a for a, _ in self.rows], format="csr")
        lo = np.concatenate([lp.row_lo] + [r for _, r in self.rows])
        return dataclasses.replace(lp, A=A, row_lo=lo, row_hi=np.full(lo.size, np.inf))


def cut_rows(p: Problem, viols: list[Violation], coefs: list[CutRow] | None = None,
             n_side: int = 0) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The rows ``A x >= rhs`` of the cuts of ``viols`` (their coefficients, or ``coefs``) over
    the master's columns: the cells, then under an either-side preset the side of each
    sensitive cell, each side's cut conditional on it (:func:`side_rows`). ``order`` says which
    violation each row comes from (the side cuts come first)."""
    coefs = [v.coef for v in viols] if coefs is None else coefs
    A = cut_matrix(coefs, p.n)
    rhs = np.array([v.level for v in viols], dtype=float)
    order = np.arange(len(viols))
    if n_side:
        A = sp.hstack([A, sp.csr_matrix((A.shape[0], n_side))], format="csr")
        side = np.array([v.kind in ("up", "dn") for v in viols])  # rule cuts have no side
        if side.any():
            ks = np.array([v.cell for v in viols])[side]
            dirs = np.array([1 if v.kind == "up" else -1 for v in viols])[side]
            As, rs = side_rows(A[side], rhs[side], p, (ks, dirs))
            A = sp.vstack([As, A[~side]], format="csr")
            rhs = np.concatenate([rs, rhs[~side]])
            order = np.concatenate([np.flatnonzero(side), np.flatnonzero(~side)])
    return A, rhs, order


class _Cuts:
    """Rows of cuts (``A x >= rhs``), their keys in the pool, and the rounds each has had slack."""

    def __init__(self, ncols: int):
        self.A = sp.csr_matrix((0, ncols))
        self.rhs = np.zeros(0)
        self.keys = np.zeros(0, dtype=np.int64)
        self.idle = np.zeros(0, dtype=np.int64)

    @property
    def size(self) -> int:
        return self.rhs.size

    def append(self, A: sp.csr_matrix, rhs: np.ndarray, keys: np.ndarray) -> None:
        self.A = sp.vstack([self.A, A], format="csr")
        self.rhs = np.concatenate([self.rhs, rhs])
        self.keys = np.concatenate([self.keys, keys])
        self.idle = np.concatenate([self.idle, np.zeros(rhs.size, dtype=np.int64)])

    def take(self, mask: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Remove the rows of ``mask`` and return them."""
        out = (self.A[mask], self.rhs[mask], self.keys[mask])
        keep = ~mask
        self.A, self.rhs, self.keys, self.idle = self.A[keep], self.rhs[keep], self.keys[keep], self.idle[keep]
        return out


class Incumbent:
    """The cheapest pattern known to pass every attacker LP (``x`` is None before the first),
    whether it has been through a whole clean-up (``clean``), and verified attacker moves of it
    (``moves``, one per row; None: none kept) that its final audit may try before its LPs."""

    def __init__(self, cost: np.ndarray):
        self._cost = cost
        self.x: np.ndarray | None = None
        self.cost = np.inf
        self.clean = False
        self.moves: sp.csr_matrix | None = None

    def offer(self, x: np.ndarray, clean: bool = False, moves: sp.csr_matrix | None = None) -> bool:
        """A pattern known to pass every attacker LP; keep it if it is cheaper."""
        c = float(self._cost[x > 0.5].sum())
        if c < self.cost - 1e-9:
            self.x, self.cost, self.clean, self.moves = (x > 0.5).astype(float), c, bool(clean), moves
            return True
        return False


class Master:
    """The master problem on a live backend model, its cuts (``cuts``), its ``incumbent`` (patterns
    are offered through :meth:`offer`), its ``lower`` bound on the cost, the separators of its
    points, and the copies solved for the bound (``bound``); ``stats`` counts the work."""

    def __init__(self, p: Problem, solver: str, deadline: Deadline = NEVER, say=None, mip_gap: float = 0.0):
        self.p = p
        self.mip_gap = mip_gap
        self.n = p.n
        self.n_side = int(p.sensitive.sum()) if p.either_side else 0
        self.lp = master_program(p)
        # solver="scip": SCIP's branch-and-cut solves the master after the root
        # (:mod:`~cellsuppress.suppress.branch_cut`); the root, the subtables and the rest on HiGHS
        self.branch_and_cut = solver == "scip"
        self.solver = "highs" if self.branch_and_cut else solver
        self.model = make_model(self.lp, self.solver)
        self.stats = {"cut_rounds": 0, "cuts": 0, "lps": 0, "mip_solves": 0, "polish_solves": 0,
                      "restarts": 0, "background_solves": 0}
        self.cuts = CutPool(p, self.lp, self.model, self.n_side, self.stats)
        self.incumbent = Incumbent(p.cost)
        self.bound = BoundCopies(self)
        self.sep = Separator(p)
        levels = np.concatenate([p.up, p.dn, p.spl, [0.0]])
        self.sep_frac = Separator(p, cap_limit=float(levels.max()))
        self.slices = SliceCuts(p)
        self.pareto: ParetoCuts | None = None  # set from the root LP's solution
        # the cut families separated at the root's fractional points besides the capacity cuts:
        # each has cuts(x, deadline) -> the violated rows (as Violations) and n_lps
        self.families = [BridgelessCuts(p)]
        self.deadline = deadline
        self.say = say if say is not None else (lambda *a, **k: None)
        self.integral = integral_costs(p.cost)
        _, self.tb_total = tie_break(p.cost, np.zeros(p.n))
        self.lower = float(p.cost[p.force_hidden].sum())
        # where set, the thread that runs this master's solves one after another (its user closes it)
        self.thread: SolveThread | None = None

    @property
    def abs_gap(self) -> float | None:
        """The master's absolute MILP gap: with integral costs, a bound within 0.5 proves."""
        return 0.5 if self.integral else None

    @property
    def can_solve_in_background(self) -> bool:
        return self.model.can_stop

    def solve(self, **options):
        """A solve of the master's own model (``options`` as the backend's ``solve`` takes them).
        Where the backend can be stopped from another thread, the solve runs in one while this
        thread waits (in ``thread``, if set): Ctrl-C stops it at once (instead of when it ends) and goes on as
        KeyboardInterrupt once the solve has stopped, and a solve that runs past its time limit
        and does not stop when asked (HiGHS does not check its limit everywhere, see
        :class:`~cellsuppress.solvers.background.BackgroundSolve`) is left behind: the model is
        still in its hands, so the search ends here (:class:`MasterLost`)."""
        if not self.model.can_stop:
            return self.model.solve(**options)
        job = BackgroundSolve.on(self.model, thread=self.thread, **options)
        try:
            sol = job.result(wait=True)
        except KeyboardInterrupt:
            job.stop()
            raise
        if job.abandoned:
            raise MasterLost("a master solve did not stop at its time limit: the search ends with its best pattern")
        return sol

    def offer(self, x: np.ndarray, clean: bool = False, moves: sp.csr_matrix | None = None) -> bool:
        """A pattern known to pass every attacker LP becomes the incumbent if it is cheaper, after
        the clean-up (by the deadline) unless it has been through a whole one (``clean``): a
        master solution, or a heuristic pattern whose clean-up was cut short, often hides cells
        it does not need, and a cleaned incumbent is a better centre for local branching.
        ``moves``: verified attacker moves of ``x``, kept with it when no clean-up changes it."""
        if float(self.p.cost[x > 0.5].sum()) >= self.incumbent.cost - 1e-9:
            return False
        if not clean:
            until = max(self.deadline.share(schedule.INCUMBENT_CLEANUP), Deadline(schedule.INCUMBENT_CLEANUP_MIN, within=self.deadline))
            x, clean = minimal(self.p, x, min(until, self.deadline), self.sep)
            moves = None
        return self.incumbent.offer(x, clean, moves)

    @property
    def cutoff(self) -> float:
        """The cost a pattern must stay under to beat the incumbent: the incumbent's less the
        smallest step of cost (with integral costs, a cheaper pattern costs a whole unit less);
        infinite before the first incumbent."""
        best = self.incumbent.cost
        if not np.isfinite(best):
            return np.inf
        return best - (0.5 if self.integral else CUTOFF_STEP * max(1.0, abs(best)))

    def solve_milp(self, time_limit: float | None, improving: bool = False):
        """One solve of the master MILP within its gap, counted, its bound taken (:meth:`take_bound`);
        ``improving``: it keeps the solutions found on the way. (No cutoff row under the
        incumbent's cost: that dense row makes the master's solves slower, and the solve that
        proves the incumbent reaches its cost anyway.)"""
        sol = self.solve(time_limit=time_limit, mip_gap=self.mip_gap, mip_abs_gap=self.abs_gap, improving=improving)
        self.stats["mip_solves"] += 1
        self.take_bound(sol)
        return sol

    def take_bound(self, sol) -> None:
        """A master solve's bound lifts the lower bound; an infeasible master means that no
        pattern protects every sensitive cell."""
        if sol.status == "infeasible":
            raise InfeasibleError("no pattern protects every sensitive cell (the master problem is infeasible)")
        self.lift(sol.bound)

    def lift(self, bound: float) -> None:
        """A lower bound on the master's objective (which includes the tie-break) lifts the one on
        the cost."""
        if np.isfinite(bound):
            self.lower = max(self.lower, bound - self.tb_total)

    def separate(self, xv: np.ndarray, integral: bool, deadline: Deadline | None = None,
                 certify: bool = False, moves: list | None = None) -> list[Violation]:
        """Failed requirements at the master point ``xv`` (cells, then the chosen sides). Past
        ``deadline`` (the master's by default) a check stops at its first violation (an empty
        list is still a proof). ``certify`` (an integer point, not under an either-side preset):
        verified batch moves meet what they can first, a few LPs over the whole block where the
        attacker LPs take one per requirement (:func:`~cellsuppress.suppress.batch.check_certified`),
        and ``moves``, if given, receives them."""
        n = self.n
        side = xv[n:] if self.n_side else None
        deadline = self.deadline if deadline is None else deadline
        viols = [] if integral else self.sep_frac.violations(xv[:n], side, deadline=deadline)
        if not integral:
            for family in self.families:
                viols += family.cuts(xv, deadline=deadline)
        if not viols:
            t = deadline.now()
            if certify and integral and not self.n_side:
                viols = check_certified(self.p, self.sep, xv[:n], {}, deadline, deadline, first_failure=True,
                                        moves=moves)
            else:
                viols = self.sep.violations(xv[:n], side, deadline=deadline)
            if integral and viols:
                # no more than the plain separation took for each (one more LP per failure), on
                # the deadline's clock: seconds, or work without a time limit
                spend = min(max(schedule.amount(deadline, schedule.SEPARATE_MIN), deadline.now() - t),
                            deadline.remaining())
                if self.pareto is not None:
                    viols += self.pareto.cuts(xv[:n], viols, deadline=deadline.after(spend))
                if self.slices.slices:
                    # as many as the whole table's cuts at most: each is an LP more, and a row of the master
                    viols += self.slices.cuts(xv[:n], side, deadline=deadline.after(spend), limit=len(viols),
                                              failing=np.unique([v.cell for v in viols]))
        if self.p.equation_sum_rule and integral:
            viols += rule_cuts(self.p, xv[:n])
        self.stats["cut_rounds"] += 1
        return viols

    def closed(self) -> bool:
        """Whether the bound proves the incumbent optimal within the master's ``mip_gap``."""
        best = self.incumbent.cost
        if not np.isfinite(best):  # no pattern yet (a relative gap of an infinite cost would hold)
            return False
        if self.integral and self.lower > best - 1 + TOL:
            return True
        return best - self.lower <= self.mip_gap * max(best, 1e-12) + 1e-9


class BoundCopies:
    """Copies of the master, with every cut so far, solved in another thread (one at a time: it
    has the second core) while the master's own loop goes on: their bound is the master's.
    Only for a backend that can be stopped from another thread."""

    def __init__(self, m: Master):
        self.m = m
        self.job: BackgroundSolve | None = None
        self.slice: float | None = None

    def start(self, slice_: float | None = None) -> None:
        """Start a copy: until the deadline, or with ``slice_`` for that long (the last slice runs
        to the deadline), after which :meth:`poll` separates its solution and starts the next
        copy with the new cuts."""
        m = self.m
        if self.job is not None:
            return
        left = m.deadline.limit()
        limit = left if slice_ is None or left is None or left < 2 * slice_ else slice_
        self.slice = None if limit == left else slice_
        self.job = BackgroundSolve(m.cuts.snapshot(), m.solver, time_limit=limit,
                                   mip_gap=0.0, mip_abs_gap=m.abs_gap)
        m.stats["background_solves"] += 1
        m.say(f"master with {m.stats['cuts']} cuts solving in the background for its bound")

    def poll(self, stop: bool = False, wait: bool = False) -> None:
        """Take the copy's bound once it has ended (``stop``: end it now; ``wait``: wait for its
        end, at the deadline at the latest). Its solution, if it proved it optimal or ran for a
        slice, is separated: protected, it is offered (and optimal, the optimum); otherwise its
        cuts join the pool. Then a new copy starts, if there is time for one (and, with
        ``wait``, is waited for too)."""
        m = self.m
        job = self.job
        if job is None:
            return
        if stop:
            job.stop()
        sol = job.result(wait=wait)
        if sol is None:
            return
        self.job = None
        before = m.lower
        m.take_bound(sol)
        m.say(f"background solve: {sol.status}, bound {m.lower:.6g}", force=True)
        sliced = self.slice is not None and not stop
        if sol.status != "optimal" and not (sliced and sol.has_solution):
            if not sliced:
                return
            next_slice = None  # no solution in a slice: the rest of the time for one solve
        else:
            xv = np.round(sol.x)
            viols = m.separate(xv, integral=True)
            if not viols:
                m.offer(xv[:m.n], clean=sol.status == "optimal")  # the copies have no gap
                if sol.status == "optimal":
                    return
            if stop:
                return
            m.cuts.add(viols)
            # a slice that did not lift the bound was too short for the tree to get past what
            # earlier solves proved: the next is twice as long
            next_slice = self.slice
            if next_slice is not None and m.lower <= before + 1e-9:
                next_slice *= 2
        if m.deadline.expired() or m.closed():
            return
        self.start(next_slice)
        if wait:
            self.poll(wait=True)

    def abandon(self) -> None:
        """Stop the copy that runs, if one does, and take its bound but nothing else (on Ctrl-C:
        no time for separating its solution)."""
        job, self.job = self.job, None
        if job is None:
            return
        job.stop()
        sol = job.result()
        if sol is not None and sol.status != "infeasible":
            self.m.lift(sol.bound)


def rule_cuts(p: Problem, x: np.ndarray) -> list[Violation]:
    """No-good cuts for equations whose hidden cells have a known sum in 1..T (``equation_sum_rule``):
    hide one more cell of the equation, or un-hide one of the hidden ones."""
    out = []
    for _, hid, pub in equation_sum_disclosures(p, x):
        free_hid = hid[~p.force_hidden[hid]]
        coef = CutRow.of(np.concatenate([pub, free_hid]),
                         np.concatenate([np.ones(pub.size), np.full(free_hid.size, -1.0)]), p.n)
        out.append(Violation(-1, "rule", 1.0 - free_hid.size, 0.0, coef))
    return out
