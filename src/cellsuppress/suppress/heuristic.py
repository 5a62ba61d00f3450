"""The fast method: a protected pattern from cheapest attacker moves, repaired and cleaned up
by the attacker LPs. Used alone (``method="fast"``) and as the incumbent of the optimal method.
"""
from __future__ import annotations

import dataclasses
import enum
import time

import numpy as np
import scipy.sparse as sp

from ..clock import NEVER, Deadline, work
from ..errors import InfeasibleError
from ..solvers import HighsModel, LinearProgram
from . import schedule
from .batch import batch_moves, check_certified, chunk_cleanup
from .cleanup import cleanup
from .model import cut_matrix
from .problem import Problem
from .separation import MovePool, OutOfTime, Separator, Violation, equation_sum_disclosures, filter_either_side


class Fallback(enum.Flag):
    """What a repair fell back on, out of time for finer means: the cells of batch moves
    (tried once), every free cell. Either makes the pattern big, so its checks and its clean-up
    go through batch moves, which certify many requirements at once."""

    NONE = 0
    BATCH = enum.auto()
    ALL_HIDDEN = enum.auto()


def heuristic(p: Problem, say=None, deadline: Deadline = NEVER, x0=None, cleanup_budget: float | None = None,
              cuts: list | None = None, give_up: Deadline = NEVER,
              hard_deadline: Deadline = NEVER, guide: np.ndarray | None = None,
              order: np.ndarray | None = None, cutoff: float = np.inf) -> tuple[np.ndarray, dict]:
    """A protected pattern, fast: start from the forced cells (or ``x0``), repair, then clean up.

    Each repair round audits the pattern with the attacker LPs and, for every
    failed requirement, hides the cheapest cells of its capacity cut until the
    cut holds; every round hides at least one more cell, so it ends protected.
    The clean-up then un-hides complementary cells, dearest first, wherever the
    audit shows they are not needed. Cuts found on the way are appended to ``cuts``.
    Past ``give_up`` it raises :class:`OutOfTime`.

    Out of time for finer repairs (past the greedy cover's share of the way to ``deadline``,
    :mod:`~cellsuppress.suppress.schedule`) it hides the cells of batch moves, whose LPs may run
    past ``deadline``, never past ``hard_deadline``; failing that, every free cell. The clean-up
    has ``cleanup_budget`` seconds (None: a multiple of the work building took, counted, not
    timed, so that without a time limit the pattern does not depend on the machine's speed) and
    ends by ``hard_deadline`` (without one, by ``deadline``); ``stats["clean"]`` says whether it
    tried every cell (:func:`~cellsuppress.suppress.cleanup.cleanup`).

    ``guide``, a weight per cell, replaces the cells' weights while cells are being hidden (not
    in the clean-up): the optimal method lowers the weight of cells its LP relaxation hides.
    ``order``, a rank per cell, is the order in which the first cheapest moves meet the failing
    requirements (lowest first; default: as the check lists them). Each move reuses what the moves
    before it hid, so the order decides the pattern: on tables of three or more dimensions two
    orders give patterns a tenth apart in cost (:mod:`~cellsuppress.suppress.restarts`).
    The clean-up stops (``stats["clean"]`` False) once the pattern can no longer cost less than
    ``cutoff`` (its cost less that of every cell it has still to try), when only a cheaper
    pattern is of use.
    """
    t0, w0 = time.perf_counter(), work()
    build = p if guide is None else dataclasses.replace(p, weight=np.asarray(guide, dtype=float))
    sep = Separator(p)
    repair = _Repair(p, build, sep, t0, deadline, give_up, hard_deadline)
    x = np.zeros(p.n) if x0 is None else (np.asarray(x0) > 0.5).astype(float)
    x[p.force_hidden] = 1.0
    x[p.blocked] = 0.0
    first = filter_either_side(p, sep.violations(x))
    if order is not None:
        first.sort(key=lambda v: order[v.cell])
    if cuts is not None:
        cuts.extend(first)
    x = cheapest_moves(build, x, first, give_up, repair.moves_end)
    rounds = 0
    while True:
        if give_up.expired():
            raise OutOfTime()
        witnesses: dict = {}
        viol = repair.failures(x, witnesses)
        rule = equation_sum_disclosures(p, x) if p.equation_sum_rule else []
        rounds += 1
        if not viol and not rule:
            break
        if cuts is not None:
            cuts.extend(viol)
        if say:
            say(f"heuristic: {len(viol)} requirement(s) fail, {int((x > 0.5).sum())} hidden")
        x = repair.hide_more(x, viol, rule)
    end = hard_deadline if hard_deadline.limited else deadline
    if cleanup_budget is None:
        until = chunks_until = Deadline.of_work(max(schedule.amount(NEVER, schedule.CLEANUP_MIN),
                                                    schedule.CLEANUP_PER_BUILD * (work() - w0)), within=end)
    elif cleanup_budget > 0:
        # past its own deadline already, the clean-up in chunks keeps to its budget (and hard_deadline)
        until, chunks_until = end.cap(cleanup_budget), min(Deadline(cleanup_budget, within=deadline), hard_deadline)
    clean = False
    if cleanup_budget is None or cleanup_budget > 0:
        x, clean = repair.clean_up(x, witnesses, until, chunks_until, cutoff)
    return x, {"cut_rounds": rounds, "lps": sep.n_lps, "clean": clean}


class _Repair:
    """One run of :func:`heuristic`: the stages of its time (shares of its span, the time to its
    deadline) and what it fell back on."""

    def __init__(self, p: Problem, build: Problem, sep: Separator, t0: float, deadline: Deadline,
                 give_up: Deadline, hard_deadline: Deadline):
        self.p, self.build, self.sep = p, build, sep
        self.deadline, self.give_up, self.hard_deadline = deadline, give_up, hard_deadline
        span = max(schedule.HEURISTIC_MIN_SPAN, deadline.at - t0)  # inf without a limit: no stage ends
        self.moves_end = Deadline.until(t0 + schedule.CHEAPEST_MOVES * span, within=deadline)
        self.cover_end = Deadline.until(t0 + schedule.GREEDY_COVER * span, within=deadline)
        self.check_seconds = max(schedule.CHECK_MIN, schedule.CHECK * span)
        self.batch_seconds = max(schedule.BATCH_MIN, schedule.BATCH * span)
        self.fallback = Fallback.NONE
        self.seeds: list = []  # moves known to be feasible for the pattern (batch moves)

    def failures(self, x: np.ndarray, witnesses: dict) -> list[Violation]:
        """The failing requirements of ``x`` (a check that may stop at its first failure past its
        share of the time); ``witnesses`` as :meth:`Separator.violations` fills them."""
        p = self.p
        if self.fallback:
            # a full check of these big patterns solves an LP per requirement over one huge
            # block; batch moves certify most of them at once
            return filter_either_side(p, check_certified(p, self.sep, x, witnesses, Deadline(self.check_seconds, within=self.deadline),
                                                         self.deadline, self.seeds))
        return filter_either_side(p, self.sep.violations(x, witnesses=witnesses,
                                                         deadline=Deadline(self.check_seconds, within=self.deadline)))

    def hide_more(self, x: np.ndarray, viol: list[Violation], rule: list) -> np.ndarray:
        """Hide more cells for the failing requirements ``viol`` and the equations ``rule``
        discloses, by the finest means there is time for: cheapest moves, the greedy cover of
        their cuts, batch moves, every free cell."""
        p, build = self.p, self.build
        before = x.sum()
        now = time.perf_counter()
        if viol and now < self.moves_end.at:
            x = cheapest_moves(build, x, viol, self.give_up, self.moves_end)
        if viol and x.sum() <= before and now < self.cover_end.at:
            A = cut_matrix([v.coef for v in viol], p.n)
            x = greedy_cover(build, x, A, np.array([v.level for v in viol]))
        if viol and x.sum() <= before and not self.fallback & Fallback.BATCH:
            # out of time for anything finer: one LP per direction finds a move that meets every
            # requirement at once, cheap cells first; with its cells hidden the pattern is safe
            # and its check is one batch LP (the moves are certificates themselves). Its LPs may
            # run past the deadline, with a hard deadline up to the clean-up's share of the time
            # to it: what they give is far cheaper than every cell hidden
            until = Deadline(self.batch_seconds, within=self.deadline)
            if self.hard_deadline.limited:
                until = max(until, self.hard_deadline.leaving(schedule.BATCH_CLEANUP_LEFT))
            batch = batch_moves(build, x, min(until, self.hard_deadline), switch_after=schedule.FALLBACK_SWITCH_WORK)
            if batch is not None:
                x, self.seeds = batch
                self.fallback |= Fallback.BATCH
        if viol and x.sum() <= before:
            # every free cell hidden is safe if anything is; the clean-up then gives back what it can
            x[~p.blocked] = 1.0
            self.fallback |= Fallback.ALL_HIDDEN
        for _, _, pub in rule:
            free = pub[~p.force_published[pub]]
            if free.size:
                x[free[np.argmin(p.weight[free])]] = 1.0
        if x.sum() <= before:  # nothing could be added: the cuts are numerically useless
            free = ~p.force_published & (x < 0.5)
            x[free] = 1.0
            if not free.any():
                raise InfeasibleError("no pattern protects every sensitive cell")
        return x

    def clean_up(self, x: np.ndarray, witnesses: dict, until: Deadline,
                 chunks_until: Deadline, cutoff: float = np.inf) -> tuple[np.ndarray, bool]:
        """Un-hide what the protected pattern ``x`` does not need, until ``until`` (in chunks
        certified by batch moves after a fallback: until ``chunks_until``); also returns whether
        every cell was tried by the exact clean-up (:func:`~cellsuppress.suppress.cleanup.cleanup`)."""
        if self.fallback:
            # the witnesses are whole batch moves, so the cell-by-cell clean-up would re-check every
            # cell for every candidate: un-hide candidates in chunks instead, each pattern certified
            # by batch LPs. A chunk that batch moves cannot certify may still be publishable: not a
            # complete clean-up
            return chunk_cleanup(self.p, x, self.seeds, self.sep, chunks_until), False
        return cleanup(self.p, x, self.sep, witnesses, until, cutoff=cutoff)


def cheapest_moves(p: Problem, x: np.ndarray, failing: list[Violation], give_up: Deadline = NEVER,
                    soft_stop: Deadline = NEVER) -> np.ndarray:
    """For each failing requirement, hide the support of the cheapest attacker move that meets it.

    The move is an LP over the whole problem: ``M z = 0``, ``z_k`` fixed at the
    protection level, each cell within its capacities, moving a published cell
    costing its weight per unit of the level and a hidden one nothing. Once its
    support is hidden the attacker can make that very move, so the requirement
    holds; later requirements reuse what earlier ones hid. Past ``soft_stop`` the
    remaining requirements are left to the caller.
    """
    if not failing:
        return x
    x = x.copy()
    n = p.n
    M = sp.csr_matrix(p.M)
    blocked = p.blocked
    up_cap = np.where(blocked, 0.0, p.cap_up)
    dn_cap = np.where(blocked, 0.0, p.cap_dn)
    lp = LinearProgram(c=np.zeros(2 * n), A=sp.hstack([M, -M], format="csr"), row_lo=np.zeros(M.shape[0]),
                       row_hi=np.zeros(M.shape[0]), col_lo=np.zeros(2 * n), col_hi=np.concatenate([up_cap, dn_cap]))
    model = HighsModel(lp)
    idx = np.arange(2 * n)
    # every move made stays available to the attacker (its cells stay hidden): a requirement that
    # one of them already meets needs no LP of its own
    pool = MovePool(-dn_cap, up_cap)
    by_cell: dict[int, list[Violation]] = {}
    for v in failing:
        by_cell.setdefault(v.cell, []).append(v)
    for k, vs in by_cell.items():
        if give_up.expired():
            raise OutOfTime()
        if soft_stop.expired():
            break
        options = []  # either_side: one side will do; otherwise every failing side is needed
        for v in vs:
            kinds = [("up", v.level), ("dn", v.level)] if v.kind == "spl" else [(v.kind, v.level)]
            if v.kind == "spl":
                kinds = [kd for kd in kinds if (p.cap_up[k] if kd[0] == "up" else p.cap_dn[k]) >= v.level]
            options.append(kinds[:1] if kinds else [])
        if p.either_side:
            options = [[o[0] for o in options if o]]
        for opts in options:
            if any(pool.best(k, 1.0 if kind == "up" else -1.0)[0] >= level - 1e-6 * max(1.0, level)
                   for kind, level in opts):
                continue
            best = None
            for kind, level in opts:
                lo = np.zeros(2 * n)
                hi = np.concatenate([up_cap, dn_cap])
                col = k if kind == "up" else n + k
                lo[col] = hi[col] = level
                hi[n + k if kind == "up" else k] = 0.0
                model.set_col_bounds(idx, lo, hi)
                unit = np.where(x > 0.5, 0.0, p.weight / max(level, 1e-9)) + 1e-9
                model.set_objective(np.concatenate([unit, unit]))
                sol = model.solve_lp(time_limit=soft_stop.limit(floor=schedule.MOVE_LP_MIN), cold=True)
                if sol.status == "optimal" and (best is None or sol.objective < best[0]):
                    best = (sol.objective, sol.x)
            if best is not None:
                z = best[1][:n] - best[1][n:]
                x[np.abs(z) > 1e-9] = 1.0
                pool.add(z)
    return x


def greedy_cover(p: Problem, x: np.ndarray, A: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Hide the cheapest cells (cost per unit of capacity) until each row of ``A x >= rhs`` holds."""
    A = sp.csr_matrix(A)
    x = x.copy()
    blocked = p.blocked
    for r in np.argsort(-rhs, kind="stable"):  # big requirements first
        cols = A.indices[A.indptr[r]:A.indptr[r + 1]]
        coef = A.data[A.indptr[r]:A.indptr[r + 1]]
        have = float(coef @ x[cols])
        if have >= rhs[r] - 1e-9:
            continue
        cand = (x[cols] < 0.5) & ~blocked[cols] & (coef > 1e-12)
        cols, coef = cols[cand], coef[cand]
        order = np.argsort(p.weight[cols] / coef, kind="stable")
        for j, cj in zip(cols[order], coef[order]):
            x[j] = 1.0
            have += cj
            if have >= rhs[r] - 1e-9:
                break
    return x


