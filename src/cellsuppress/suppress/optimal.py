"""The optimal method: the master problem of capacity cuts, grown by the attacker LPs until its
solution passes every one of them (DESIGN.md §2).

The master starts from the single-equation cuts and the cuts the heuristic met, is cut
at its LP relaxation until the attacker LPs find nothing, and is then solved as a MILP.
Each failing integer solution adds its own cuts; a Pareto-optimal cut per failed
requirement (the dual tightest at the root LP's solution,
:class:`cellsuppress.separation.ParetoCuts`); in tables of three or more dimensions, the
cuts of the two-way slices through the failing cells
(:class:`cellsuppress.separation.SliceCuts`); and the cuts of a few greedy repair steps
around it (patterns near the master's choice give the cuts it needs next). The root LP's
solution also guides a second heuristic pattern. In two-way tables this ends in a round
or two. In three or more dimensions, where a cell needs a whole cycle of partners, it
can take many rounds: the best pattern that passed the attacker LPs (heuristic or
integer solution, repaired) and the best MILP bound give the stated gap. With a time
limit, part of it goes to local branching inside the master around the best pattern,
which finds cheaper patterns faster than more rounds do, while a copy of the master is
solved for the bound on the second core. A Python
branch-and-cut over the same master was tried and lifted the bound more slowly than
HiGHS's own MILP search on these masters.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import scipy.sparse as sp

from ..clock import NEVER, Deadline
from ..errors import InfeasibleError
from ..solvers import LinearProgram, make_model
from ..solvers.background import BackgroundSolve
from . import schedule
from .heuristic import OutOfTime, _greedy_cover, heuristic
from .model import master_program, side_rows
from .problem import Problem, integral_costs, tie_break
from .separation import ParetoCuts, Separator, SliceCuts, Violation, equation_sum_disclosures

TOL = 1e-6


class _Master:
    """The master problem on a live backend model, with its pool of cuts and the incumbent."""

    def __init__(self, p: Problem, solver: str, deadline: Deadline = NEVER, say=None, mip_gap: float = 0.0):
        self.p = p
        self.mip_gap = mip_gap
        self.n = p.n
        self.n_side = int(p.sensitive.sum()) if p.either_side else 0
        self.lp = master_program(p)
        self.solver = solver
        self.model = make_model(self.lp, solver)
        self.cut_rows: list[tuple[sp.csr_matrix, np.ndarray]] = []  # what add() gave the model
        self.bound_job: BackgroundSolve | None = None
        self.bound_slice: float | None = None
        self.sep = Separator(p)
        levels = np.concatenate([p.up, p.dn, p.spl, [0.0]])
        self.sep_frac = Separator(p, cap_limit=float(levels.max()))
        self.slices = SliceCuts(p)
        self.deadline = deadline
        self.say = say if say is not None else (lambda *a, **k: None)
        self.integral = integral_costs(p.cost)
        _, self.tb_total = tie_break(p.cost, np.zeros(p.n))
        self.seen: set = set()
        self.stats = {"cut_rounds": 0, "cuts": 0, "lps": 0, "mip_solves": 0, "polish_solves": 0,
                      "background_solves": 0}
        self.best_x: np.ndarray | None = None
        self.best_cost = np.inf
        self.lower = float(p.cost[p.force_hidden].sum())
        self.pareto: ParetoCuts | None = None  # set from the root LP's solution

    @property
    def abs_gap(self) -> float | None:
        """The master's absolute MILP gap: with integral costs, a bound within 0.5 proves."""
        return 0.5 if self.integral else None

    # -- cuts -------------------------------------------------------------------------------------
    def add(self, viols: list[Violation]) -> int:
        """Add the cuts not yet in the pool; returns how many were new."""
        if not viols:
            return 0
        coef = np.array([v.coef for v in viols])
        coef[np.abs(coef) < 1e-9] = 0.0
        keys = [hash((v.cell, v.kind, np.round(c, 9).tobytes())) for v, c in zip(viols, coef)]
        fresh = [i for i, k in enumerate(keys) if k not in self.seen]
        self.seen.update(keys)
        if not fresh:
            return 0
        viols = [viols[i] for i in fresh]
        A = sp.csr_matrix(coef[fresh])
        rhs = np.array([v.level for v in viols], dtype=float)
        if self.n_side:
            A = sp.hstack([A, sp.csr_matrix((A.shape[0], self.n_side))], format="csr")
            side = np.array([v.kind in ("up", "dn") for v in viols])  # rule cuts have no side
            if side.any():
                ks = np.array([v.cell for v in viols])[side]
                dirs = np.array([1 if v.kind == "up" else -1 for v in viols])[side]
                As, rs = side_rows(A[side], rhs[side], self.p, (ks, dirs))
                A = sp.vstack([As, A[~side]], format="csr")
                rhs = np.concatenate([rs, rhs[~side]])
        self.model.add_rows(A, rhs, np.full(rhs.size, np.inf))
        self.cut_rows.append((A, rhs))
        self.stats["cuts"] += rhs.size
        return rhs.size

    def snapshot(self) -> LinearProgram:
        """The master program with every cut so far (not local branching's rows)."""
        lp = self.lp
        A = sp.vstack([lp.A] + [a for a, _ in self.cut_rows], format="csr")
        lo = np.concatenate([lp.row_lo] + [r for _, r in self.cut_rows])
        return dataclasses.replace(lp, A=A, row_lo=lo, row_hi=np.full(lo.size, np.inf))

    # -- the bound from a copy of the master solved in another thread ------------------------------
    @property
    def can_solve_in_background(self) -> bool:
        return self.model.can_stop

    def start_bound(self, slice_: float | None = None) -> None:
        """Solve a copy of the master, with every cut so far, in another thread: its bound is the
        master's, and the loop goes on meanwhile. Until the deadline, or with ``slice_`` for that
        long (the last slice runs to the deadline), after which :meth:`poll_bound` separates its
        solution and starts the next copy with the new cuts."""
        if self.bound_job is not None:  # one at a time: it has the second core
            return
        left = self.deadline.limit()
        limit = left if slice_ is None or left is None or left < 2 * slice_ else slice_
        self.bound_slice = None if limit == left else slice_
        self.bound_job = BackgroundSolve(self.snapshot(), self.solver, time_limit=limit,
                                         mip_gap=0.0, mip_abs_gap=self.abs_gap)
        self.stats["background_solves"] += 1
        self.say(f"master with {self.stats['cuts']} cuts solving in the background for its bound")

    def poll_bound(self, stop: bool = False, wait: bool = False) -> None:
        """Take the background solve's bound once it has ended (``stop``: end it now; ``wait``:
        wait for its end, at the deadline at the latest). Its solution, if it proved it optimal
        or ran for a slice, is separated: protected, it is offered (and optimal, the optimum);
        otherwise its cuts join the pool. Then a new copy starts, if there is time for one
        (and, with ``wait``, is waited for too)."""
        job = self.bound_job
        if job is None:
            return
        if stop:
            job.stop()
        sol = job.result(wait=wait)
        if sol is None:
            return
        self.bound_job = None
        if sol.status == "infeasible":
            raise InfeasibleError("no pattern protects every sensitive cell (the master problem is infeasible)")
        before = self.lower
        if np.isfinite(sol.bound):
            self.lower = max(self.lower, sol.bound - self.tb_total)
        self.say(f"background solve: {sol.status}, bound {self.lower:.6g}", force=True)
        sliced = self.bound_slice is not None and not stop
        if sol.status != "optimal" and not (sliced and sol.has_solution):
            if not sliced:
                return
            next_slice = None  # no solution in a slice: the rest of the time for one solve
        else:
            xv = np.round(sol.x)
            viols = self.separate(xv, integral=True)
            if not viols:
                self.offer(xv[:self.n])
                if sol.status == "optimal":
                    return
            if stop:
                return
            self.add(viols)
            # a slice that did not lift the bound was too short for the tree to get past what
            # earlier solves proved: the next is twice as long (10x10x10 at 600 s: in one run
            # twelve slices of 25-35 s lifted nothing over the rounds' 4,082, where one long
            # solve of the last 35% once came to 4,109-4,120)
            next_slice = self.bound_slice
            if next_slice is not None and self.lower <= before + 1e-9:
                next_slice *= 2
        if self.deadline.expired() or self.closed():
            return
        self.start_bound(next_slice)
        if wait:
            self.poll_bound(wait=True)

    def separate(self, xv: np.ndarray, integral: bool) -> list[Violation]:
        """Failed requirements at the master point ``xv`` (cells, then the chosen sides)."""
        n = self.n
        side = xv[n:] if self.n_side else None
        # past the deadline a check stops at its first violation (an empty list is still a proof)
        viols = [] if integral else self.sep_frac.violations(xv[:n], side, deadline=self.deadline)
        if not viols:
            t = time.perf_counter()
            viols = self.sep.violations(xv[:n], side, deadline=self.deadline)
            if integral and viols:
                # no more time than the plain separation took for each (one more LP per failure)
                spend = min(max(schedule.SEPARATE_MIN, time.perf_counter() - t), self.deadline.remaining())
                if self.pareto is not None:
                    viols += self.pareto.cuts(xv[:n], viols, deadline=Deadline(spend))
                if self.slices.slices:
                    # as many as the whole table's cuts at most: each is a dense row
                    viols += self.slices.cuts(xv[:n], side, deadline=Deadline(spend), limit=len(viols),
                                              failing=np.unique([v.cell for v in viols]))
        if self.p.equation_sum_rule and integral:
            viols += _rule_cuts(self.p, xv[:n])
        self.stats["cut_rounds"] += 1
        return viols

    # -- incumbent --------------------------------------------------------------------------------
    def offer(self, x: np.ndarray) -> bool:
        """A pattern known to pass every attacker LP; keep it if it is cheaper."""
        c = float(self.p.cost[x > 0.5].sum())
        if c < self.best_cost - 1e-9:
            self.best_x, self.best_cost = (x > 0.5).astype(float), c
            return True
        return False

    def repair(self, x: np.ndarray, share: float = schedule.REPAIR_CLEANUP, trajectory: int = 0) -> None:
        """Make a failing pattern protected with the heuristic; its cuts join the pool.

        With ``trajectory`` > 0, also walk that many greedy repair steps from ``x`` and pool the
        cuts found at every step: patterns near the master's solution give the cuts it needs next.
        """
        self.walk(x, trajectory)
        self._heuristic_pattern(x0=x, cleanup_budget=self.deadline.budget(share), give_up=self.deadline)

    def repair_near(self, x: np.ndarray, centre: np.ndarray, until: Deadline) -> None:
        """Repair ``x``, a master solution near the incumbent ``centre``: the centre's cells
        cost half while cells are hidden, and the clean-up may run until ``until`` (on a
        10x10x10 table a clean-up cut short kept 4,731 where a whole one gave 4,665)."""
        self._heuristic_pattern(x0=x, cleanup_budget=until.remaining(),
                                give_up=self.deadline, guide=self.p.weight * np.where(centre, 0.5, 1.0))

    def _heuristic_pattern(self, **kw) -> bool:
        """Run the heuristic (``kw`` as :func:`heuristic` takes them), pool the cuts it met and
        offer its pattern; False when it gave up or its pattern is not cheaper."""
        found: list = []
        try:
            x, st = heuristic(self.p, None, self.deadline, cuts=found, **kw)
        except OutOfTime:
            return False
        finally:
            self.add(found)
        self.stats["lps"] += st.get("lps", 0)
        return self.offer(x)

    def guided(self, core: np.ndarray, give_up: Deadline, share: float = schedule.GUIDED_CLEANUP) -> None:
        """The heuristic with the weights of the cells the LP relaxation ``core`` hides lowered
        (by up to 40%), abandoned at ``give_up``: on a 10x10x10 table its pattern costs 4,927
        where the plain heuristic's costs 5,668 and 600 s of repaired master solutions about 4,900."""
        guide = self.p.weight * (1.0 - 0.4 * np.clip(core[:self.n], 0.0, 1.0))
        if self._heuristic_pattern(cleanup_budget=self.deadline.budget(share), give_up=min(give_up, self.deadline),
                                   guide=guide):
            self.say(f"LP-guided heuristic: cost {self.best_cost:g}")

    def walk(self, x: np.ndarray, steps: int) -> None:
        """Pool the cuts met along ``steps`` greedy repair steps from ``x``."""
        xs = x.copy()
        for _ in range(steps):
            viols = [v for v in self.sep.violations(xs, deadline=self.deadline) if v.kind != "rule"]
            if not viols or self.deadline.expired():
                break
            self.add(viols)
            xs = _greedy_cover(self.p, xs, sp.csr_matrix(np.array([v.coef for v in viols])),
                               np.array([v.level for v in viols]))

    def closed(self) -> bool:
        """Whether the bound proves the incumbent optimal within the master's ``mip_gap``."""
        if self.integral and self.lower > self.best_cost - 1 + TOL:
            return True
        return self.best_cost - self.lower <= self.mip_gap * max(self.best_cost, 1e-12) + 1e-9


def optimal(p: Problem, say, deadline: Deadline, mip_gap: float, solver: str, max_root_rounds: int = 50,
            export_model: str | None = None) -> tuple[np.ndarray, float, bool, dict]:
    """Solve ``p`` to optimality (or to the deadline). Returns ``(x, lower bound, optimal, stats)``."""
    m = _Master(p, solver, deadline, say, mip_gap)
    found: list = []
    h_deadline = deadline.share(schedule.INCUMBENT)
    t_h = time.perf_counter()
    hx, hst = heuristic(p, say, h_deadline, cuts=found, cleanup_budget=deadline.budget(schedule.INCUMBENT_CLEANUP))
    t_h = time.perf_counter() - t_h
    m.stats["lps"] += hst.get("lps", 0)
    m.add(found)
    m.offer(hx)
    if p.either_side:
        _both_sides_incumbent(m, h_deadline)
    say(f"heuristic incumbent: cost {m.best_cost:g}", force=True)

    _lp_rounds(m, max_root_rounds)
    try:
        done = m.closed() or _row_generation(
            m, export_model, guide_after=schedule.GUIDED_PER_HEURISTIC * t_h + schedule.GUIDED_EXTRA)
    finally:
        m.poll_bound(stop=True)
    if export_model:
        m.model.export(export_model)
    m.stats["lps"] += (m.sep.n_lps + m.sep_frac.n_lps + m.slices.n_lps
                       + (m.pareto.n_lps if m.pareto else 0))
    lower = m.lower
    if m.integral:
        lower = float(np.ceil(lower - TOL))
    lower = min(lower, m.best_cost)
    proven = done or m.closed()
    if not proven:
        m.stats["note"] = f"stopped before proving optimality: cost {m.best_cost:g}, lower bound {lower:g}"
    return m.best_x, lower, proven, m.stats


def _both_sides_incumbent(m: _Master, deadline: Deadline) -> None:
    """Under ``either_side``, offer the heuristic's pattern that protects both sides of every cell.

    It also meets the preset (either side will do, and a cell that can reach T+1 leaves no
    equation sum in 1..T); the one-side heuristic picks sides greedily and can end dearer.
    """
    if deadline.expired():
        return
    try:
        x, st = heuristic(dataclasses.replace(m.p, either_side=False, equation_sum_rule=False), None, deadline,
                          cleanup_budget=deadline.budget(schedule.BOTH_SIDES_CLEANUP))
    except InfeasibleError:  # e.g. hidden cells known to be non-zero cannot all reach 0
        return
    m.stats["lps"] += st.get("lps", 0)
    if not m.separate(np.concatenate([x, np.ones(m.n_side)]), integral=True):
        m.offer(x)


def _lp_rounds(m: _Master, limit: int) -> float:
    """Cut loop on the LP relaxation; returns the last LP value."""
    m.model.set_integer(False)
    last, stall, obj, core = -np.inf, 0, -np.inf, None
    took = 0.0
    for rnd in range(limit):
        if m.deadline.remaining() <= took:  # the next round would not fit
            break
        t_round = time.perf_counter()
        sol = m.model.solve(time_limit=m.deadline.limit())
        if not sol.has_solution:
            break
        obj = sol.objective
        m.lower = max(m.lower, obj - m.tb_total)
        core = sol.x[:m.n]
        added = m.add(m.separate(sol.x, integral=False))
        took = time.perf_counter() - t_round
        m.say(f"LP round {rnd + 1}: bound {obj:.6g}, {added} cut(s)")
        if not added:
            break
        stall = stall + 1 if obj < last + 1e-6 * max(1.0, abs(last)) else 0
        last = obj
        if stall >= 3:
            break
    m.model.set_integer(True)
    if core is not None:
        m.pareto = ParetoCuts(m.p, core)
    return obj


def _row_generation(m: _Master, export_model, guide_after: float = 0.0) -> bool:
    """Master MILP, audit, cuts; returns True when optimality (within the gap) is proven. The
    shares and slices of time are those of :mod:`cellsuppress.suppress.schedule`.

    When the first master solution fails, the LP-guided heuristic (:meth:`_Master.guided`) gets
    up to ``guide_after`` seconds, if that is at most ``GUIDED_MAX`` of the time left (the bound
    needs the rest); two-way tables, usually solved by their first master MILP, never pay for it.

    With a deadline the loop has two phases (shares of its own time; the first needs at
    least three rounds):

    - rounds until ``POLISH_LEFT`` of the time is left: the bound and the cuts. With local
      branching to come their solutions are not repaired (those repairs seldom give the best
      pattern, and without them rounds come about twice as fast, which lifts the bound more);
      a solve cut short whose solution costs more than the incumbent gets a longer slice next
      time;
    - local branching around the incumbent (:func:`_local_branching`) to the deadline: better
      patterns, and cuts near them; its solves run in another thread, ahead of the repairs.
      Beside it, copies of the master with every cut so far are solved for the bound
      (:meth:`_Master.start_bound`), the first for ``BOUND_SLICE`` seconds, twice as long
      after one that did not lift the bound, the last to the deadline; each copy's solution
      is separated and the next copy has its cuts: the rounds go on there. Three threads
      share the two cores, but this one mostly waits for the neighbourhood solves. Local
      branching only when that phase lasts ``MIN_POLISH`` seconds or more (several
      neighbourhoods: a short phase costs bound and gains little); otherwise rounds go on, and
      the bound's copies start when ``FINAL_LEFT`` of the time is left.

    A backend that cannot be stopped from another thread (PuLP) does all of this in one
    thread: local branching until ``FINAL_LEFT_POLISHED`` of the time is left, then one long
    master solve to ``LONG_SOLVE_LEFT_POLISHED`` (without local branching: from ``FINAL_LEFT``
    to ``LONG_SOLVE_LEFT``), whose solution is repaired near the incumbent
    (:meth:`_Master.repair_near`).

    On tables of three or more dimensions, local branching finds much cheaper patterns than
    the rounds alone in the same time.
    """
    p, n = m.p, m.n
    background = m.can_solve_in_background
    # a master solved to optimality gives the bound as before; without a time limit every
    # solve is one
    slice_ = schedule.FIRST_SLICE
    no_polish = polished = (not m.deadline.limited or (schedule.POLISH_LEFT - schedule.FINAL_LEFT_POLISHED)
                            * m.deadline.remaining() < schedule.MIN_POLISH)
    if no_polish:
        final_left, long_solve_left = schedule.FINAL_LEFT, schedule.LONG_SOLVE_LEFT
    else:
        final_left, long_solve_left = schedule.FINAL_LEFT_POLISHED, schedule.LONG_SOLVE_LEFT_POLISHED
    # the phases, all NEVER without a time limit
    polish_from = m.deadline.leaving(schedule.POLISH_LEFT)
    final_from = m.deadline.leaving(final_left)
    long_solve_end = m.deadline.leaving(long_solve_left)
    final_done = False
    while not m.deadline.expired():
        if export_model:
            m.model.export(export_model)
        m.poll_bound()
        if m.closed():
            return True
        left = m.deadline.remaining()
        if not polished and m.stats["mip_solves"] >= 3 and polish_from.expired() and not final_from.expired():
            polished = True
            if background:
                # the bound's copies and local branching's solves run beside this thread's repairs
                m.start_bound(slice_=schedule.BOUND_SLICE)
                _local_branching(m, until=m.deadline)
                if not m.closed():
                    # local branching stops short when its next repair would not fit; the bound need not
                    m.poll_bound(wait=True)
                return m.closed()
            _local_branching(m, until=final_from)
            if m.closed():
                return True
            continue
        limit = min(left, slice_) if m.deadline.limited else None
        if not polished and m.stats["mip_solves"] >= 3:
            # local branching starts on time
            limit = min(limit, max(schedule.MIN_MASTER_SOLVE, polish_from.remaining()))
        if not final_done and m.stats["mip_solves"] >= 3 and final_from.expired():
            final_done = True
            if background:
                m.start_bound(slice_=schedule.BOUND_SLICE)  # and rounds go on
            else:
                limit = max(limit, long_solve_end.remaining())
        # no MIP start from the incumbent: with one, HiGHS 1.16 returned the start as its
        # solution next to the objective of another (3x3 table, exact preset, unity costs)
        sol = m.model.solve(time_limit=limit, mip_gap=m.mip_gap, mip_abs_gap=m.abs_gap)
        m.stats["mip_solves"] += 1
        if sol.status == "infeasible":
            raise InfeasibleError("no pattern protects every sensitive cell (the master problem is infeasible)")
        if np.isfinite(sol.bound):
            m.lower = max(m.lower, sol.bound - m.tb_total)
        if m.closed():
            return True
        if not sol.has_solution:
            slice_ *= 2
            continue
        xv = np.round(sol.x)
        viols = m.separate(xv, integral=True)
        if not viols and sol.status != "optimal":
            m.offer(xv[:n])  # protected, but the master may hold cheaper ones: solve it longer
            slice_ *= 2
            continue
        cost_x = float(p.cost[xv[:n] > 0.5].sum())
        m.say(f"MIP {m.stats['mip_solves']}: cost {cost_x:g}, bound {m.lower:.6g}, best {m.best_cost:g}, "
              f"{len({(v.cell, v.kind) for v in viols})} violated")
        if not viols:
            m.offer(xv[:n])
            return sol.status == "optimal" or m.closed()
        m.add(viols)
        if sol.status != "optimal" and cost_x >= m.best_cost:
            # a solve cut short often ends on HiGHS's first feasible point (10x10x10: 7,000-8,400
            # against an incumbent of 4,923, in most 600 s runs): its cuts are few and its repair
            # takes 10 s and never pays; a longer slice gives a solution worth repairing
            slice_ *= 2
            continue
        if final_done and not background and m.best_x is not None:
            # the long solve's solution is the master's best guess: what is left goes to it
            m.repair_near(xv[:n], m.best_x > 0.5, m.deadline)
            continue
        if guide_after > 0 and m.pareto is not None:
            if guide_after <= schedule.GUIDED_MAX * m.deadline.remaining():
                m.guided(m.pareto.core, give_up=Deadline(guide_after))
            guide_after = 0.0
        if not no_polish and not polished:
            continue  # local branching to come: no repairs, rounds come faster
        m.repair(xv[:n], trajectory=5)
    return False


def _local_branching(m: _Master, until: Deadline, k: int = 20) -> None:
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

    On a backend that solves in another thread, the next neighbourhood is solved there
    while this thread repairs the last solution (beside the bound's copies, if they run): on
    a 10x10x10 table a solve takes 3-15 s and a repair 4-8 s, and most repairs that improve
    end in a new centre, so the solve that ran alongside belongs to the previous one; its
    solution is still a cheap master solution to separate and repair. On a backend that
    cannot solve in another thread (PuLP), the two rows are added to the master itself and
    removed after each solve.
    """
    free = m.p.free
    ahead = m.can_solve_in_background
    pending: _NearSolve | None = None
    repair_took = 0.0  # a solution found with no time left to repair it is wasted
    misses = 0  # repairs in a row that gave no cheaper pattern
    try:
        while m.best_x is not None:
            m.poll_bound()
            limit = min(schedule.NEAR_SOLVE, until.remaining() - repair_took)
            if m.closed() or limit <= 0.0:
                return
            near = pending if pending is not None else _NearSolve(m, free, k, limit)
            pending = None
            sol = near.solution(wait=1.0)
            while sol is None:  # meanwhile a copy solved for the bound may have ended
                m.poll_bound()
                sol = near.solution(wait=1.0)
            m.stats["polish_solves"] += 1
            current = near.centre_cost == m.best_cost  # not a solve that ran ahead of a new centre
            if sol.status == "infeasible":
                if current and k >= free.sum():  # the whole space holds nothing cheaper
                    m.lower = max(m.lower, m.best_cost - near.step)
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
            before = m.best_cost
            m.say(f"local branching (k={near.k}): {sol.status} at cost {float(m.p.cost[xv[:m.n] > 0.5].sum()):g}, "
                  f"{len({(v.cell, v.kind) for v in viols})} violated")
            if not viols:
                m.offer(xv[:m.n])
            else:
                m.add(viols)
                if ahead:
                    pending = _NearSolve(m, free, k, min(schedule.NEAR_SOLVE, until.remaining()))
                t = time.perf_counter()
                m.repair_near(xv[:m.n], m.best_x > 0.5, until)
                repair_took = time.perf_counter() - t
            if m.best_cost < before:
                m.say(f"local branching (k={near.k}): cost {m.best_cost:g}", force=True)
                misses = 0
            elif viols and current:
                misses += 1
                if misses == 2 and k > 5:
                    # repairs of solutions at this distance stopped paying: look closer
                    k, misses = max(5, k // 2), 0
                    m.say(f"local branching: two repairs in a row gave nothing, k={k}")
    finally:
        if pending is not None:
            pending.stop()


class _NearSolve:
    """One solve of :func:`_local_branching`: the master within ``k`` cells of the incumbent
    and cheaper than it. On a backend that solves in another thread, a copy of the master
    without the cuts that hold throughout the neighbourhood (:func:`rows_kept_near`), solved
    there (the caller may work meanwhile: ``solution`` waits); otherwise on the master
    itself, now, with the two rows added and removed."""

    def __init__(self, m: _Master, free: np.ndarray, k: int, limit: float):
        centre = m.best_x > 0.5
        self.k, self.centre_cost = k, m.best_cost
        self.step = 0.5 if m.integral else 1e-6 * max(1.0, abs(m.best_cost))
        # sum over the centre's free cells of (1 - x) + sum over the others of x <= k
        near = np.where(centre, -1.0, 1.0) * free
        rows = sp.csr_matrix(np.vstack([near, m.p.cost]))
        if m.n_side:
            rows = sp.hstack([rows, sp.csr_matrix((2, m.n_side))], format="csr")
        lo = np.full(2, -np.inf)
        hi = np.array([k - float((centre & free).sum()), m.best_cost - self.step])
        options = dict(time_limit=limit, mip_gap=0.0, mip_abs_gap=m.abs_gap)
        self.job: BackgroundSolve | None = None
        self.sol = None
        if m.can_solve_in_background:
            lp = m.snapshot()
            # on 10x10x10 most cuts are covers of hundreds of cells, many of them hidden in the
            # centre: 4,080 of 6,170 rows hold within 20 cells of it, and without them the solve
            # is optimal in 3 s where the whole master was still at its root after 15 s
            keep = rows_kept_near(lp.A, lp.row_lo, centre, free, k)
            lp = dataclasses.replace(lp, A=sp.vstack([lp.A[keep], rows], format="csr"),
                                     row_lo=np.concatenate([lp.row_lo[keep], lo]),
                                     row_hi=np.concatenate([lp.row_hi[keep], hi]))
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


def _rule_cuts(p: Problem, x: np.ndarray) -> list[Violation]:
    """No-good cuts for equations whose hidden cells have a known sum in 1..T (``equation_sum_rule``):
    hide one more cell of the equation, or un-hide one of the hidden ones."""
    out = []
    for _, hid, pub in equation_sum_disclosures(p, x):
        coef = np.zeros(p.n)
        coef[pub] = 1.0
        free_hid = hid[~p.force_hidden[hid]]
        coef[free_hid] = -1.0
        out.append(Violation(-1, "rule", 1.0 - free_hid.size, 0.0, coef))
    return out
