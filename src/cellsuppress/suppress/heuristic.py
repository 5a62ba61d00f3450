"""The fast method: a protected pattern from cheapest attacker moves, repaired and cleaned up
by the attacker LPs. Used alone (``method="fast"``) and as the incumbent of the optimal method.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import scipy.sparse as sp

from ..auditing.certify import certify_levels, level_targets
from ..clock import NEVER, Deadline
from ..errors import InfeasibleError
from ..solvers import HighsModel, LinearProgram
from . import schedule
from .problem import Problem
from .separation import MovePool, Separator, Violation, equation_sum_disclosures


class OutOfTime(Exception):
    """The heuristic was asked to give up at a deadline (only for optional repairs)."""


def heuristic(p: Problem, say=None, deadline: Deadline = NEVER, x0=None, cleanup_budget: float | None = None,
              cuts: list | None = None, give_up: Deadline = NEVER,
              hard_deadline: Deadline = NEVER, guide: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
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
    has ``cleanup_budget`` seconds (None: a multiple of what building took) and ends by
    ``hard_deadline`` (without one, by ``deadline``).

    ``guide``, a weight per cell, replaces the cells' weights while cells are being hidden (not
    in the clean-up): the optimal method lowers the weight of cells its LP relaxation hides.
    """
    t0 = time.perf_counter()
    build = p if guide is None else dataclasses.replace(p, weight=np.asarray(guide, dtype=float))
    sep = Separator(p)
    x = np.zeros(p.n) if x0 is None else (np.asarray(x0) > 0.5).astype(float)
    x[p.force_hidden] = 1.0
    x[p.blocked] = 0.0
    stats = {"cut_rounds": 0}
    first = _filter_either_side(p, sep.violations(x))
    seeds: list = []  # moves known to be feasible for the pattern (from _batch_moves)
    if cuts is not None:
        cuts.extend(first)
    # the stages of the repair, as shares of the span (inf without a limit: no stage ends)
    span = max(schedule.HEURISTIC_MIN_SPAN, deadline.at - t0)
    moves_end = Deadline.until(t0 + schedule.CHEAPEST_MOVES * span)
    cover_end = Deadline.until(t0 + schedule.GREEDY_COVER * span)
    check_seconds = max(schedule.CHECK_MIN, schedule.CHECK * span)
    x = _cheapest_moves(build, x, first, give_up, moves_end)
    while True:
        if give_up.expired():
            raise OutOfTime()
        witnesses: dict = {}
        if stats.get("hid_all") or stats.get("batch"):
            # a full check of these big patterns solves an LP per requirement over one huge
            # block (minutes on 6-dimensional tables); batch moves certify most of them at once
            viol = _filter_either_side(p, _check_certified(p, sep, x, witnesses, Deadline(check_seconds),
                                                           deadline, seeds))
        else:
            viol = _filter_either_side(p, sep.violations(x, witnesses=witnesses, deadline=Deadline(check_seconds)))
        rule = equation_sum_disclosures(p, x) if p.equation_sum_rule else []
        stats["cut_rounds"] += 1
        if not viol and not rule:
            break
        if cuts is not None:
            cuts.extend(viol)
        if say:
            say(f"heuristic: {len(viol)} requirement(s) fail, {int((x > 0.5).sum())} hidden")
        before = x.sum()
        now = time.perf_counter()
        if viol and now < moves_end.at:
            x = _cheapest_moves(build, x, viol, give_up, moves_end)
        if viol and x.sum() <= before and now < cover_end.at:
            A = sp.csr_matrix(np.array([v.coef for v in viol]))
            x = _greedy_cover(build, x, A, np.array([v.level for v in viol]))
        if viol and x.sum() <= before and not stats.get("batch"):
            # out of time for anything finer: one LP per direction finds a move that meets every
            # requirement at once, cheap cells first; with its cells hidden the pattern is safe
            # and its check is one batch LP (the moves are certificates themselves)
            # (the LP may run past the deadline by up to 35% of the span: on NINE12, 10,399 cells,
            # it takes 10 s and gives a pattern of cost 3.0e7 where hiding every cell costs 7.2e7)
            batch = _batch_moves(build, x, min(Deadline(max(schedule.BATCH_MIN, schedule.BATCH * span)),
                                                hard_deadline))
            if batch is not None:
                x, seeds = batch
                stats["batch"] = True
        if viol and x.sum() <= before:
            # every free cell hidden is safe if anything is; the clean-up then gives back what it can
            x[~p.blocked] = 1.0
            stats["hid_all"] = True
        for _, _, pub in rule:
            free = pub[~p.force_published[pub]]
            if free.size:
                x[free[np.argmin(p.weight[free])]] = 1.0
        if x.sum() <= before:  # nothing could be added: the cuts are numerically useless
            free = ~p.force_published & (x < 0.5)
            x[free] = 1.0
            if not free.any():
                raise InfeasibleError("no pattern protects every sensitive cell")
    if cleanup_budget is None:
        cleanup_budget = max(schedule.CLEANUP_MIN, schedule.CLEANUP_PER_BUILD * (time.perf_counter() - t0))
    if cleanup_budget > 0 and (stats.get("batch") or stats.get("hid_all")):
        # the witnesses are whole batch moves, so the cell-by-cell clean-up would re-check every
        # cell for every candidate: un-hide candidates in chunks instead, each pattern certified
        # by batch LPs; past its own deadline already, it keeps to its budget (and hard_deadline)
        x = _chunk_cleanup(p, x, seeds, sep, min(Deadline(cleanup_budget), hard_deadline))
    elif cleanup_budget > 0:
        end = hard_deadline if hard_deadline.limited else deadline
        x = _cleanup(p, x, sep, witnesses, min(Deadline(cleanup_budget), end))
    stats["lps"] = sep.n_lps
    return x, stats


def _check_certified(p: Problem, sep: Separator, x: np.ndarray, witnesses: dict,
                     check: Deadline = NEVER, deadline: Deadline = NEVER, seeds=None) -> list[Violation]:
    """``sep.violations(x, witnesses=...)`` with the requirements that verified batch moves meet
    (:func:`cellsuppress.certify.certify_levels`) taken out first; only the rest get their own
    attacker LPs, which may stop at their first violation past ``check``. The certified cells'
    witnesses are the supports of their moves."""
    hidden = x > 0.5
    cert, held = certify_levels(p.M, hidden, p.cap_up, p.cap_dn, p.up, p.dn, p.spl, either=p.either_side,
                                time_limit=deadline.limit(floor=schedule.CERTIFY_MIN), seeds=seeds,
                                focus=2 * int(p.sensitive.sum()))
    sep.n_lps += cert.lps
    if held.any():
        rest = dataclasses.replace(p, up=np.where(held, 0.0, p.up), dn=np.where(held, 0.0, p.dn),
                                   spl=np.where(held, 0.0, p.spl))
        rest_sep = Separator(rest)
        viol = rest_sep.violations(x, witnesses=witnesses, deadline=check)
        sep.n_lps += rest_sep.n_lps
    else:
        viol = sep.violations(x, witnesses=witnesses, deadline=check)
    for k in np.flatnonzero(held):
        witnesses[k] = _cert_witness(p, cert, int(k))
    return viol


def _batch_moves(p: Problem, x: np.ndarray, until: Deadline = NEVER) -> tuple[np.ndarray, list] | None:
    """``x`` with the cells of a few moves hidden: per direction, one that meets every level of
    that direction at once (sliding levels as in :func:`certify_levels`; under ``either_side`` the upward
    side where the cell can go that far), then up to two more for the levels it missed. Each is an
    LP over all cells, ``M z = 0`` within the capacities, moving a hidden cell free and a published
    one at its weight per unit of the median level. Returns ``(x, moves)``, or None when some level
    is still unmet (or the LPs ran out of time, at ``until``).
    """
    M = sp.csr_matrix(p.M)
    blocked = p.blocked
    up_cap = np.where(blocked, 0.0, p.cap_up)
    dn_cap = np.where(blocked, 0.0, p.cap_dn)
    t_up, t_dn = level_targets(p.up, p.dn, p.spl, p.cap_up)
    if p.either_side:  # upwards where the cell can go that far
        go_up = t_up <= up_cap
        t_up, t_dn = np.where(go_up, t_up, 0.0), np.where(go_up, 0.0, t_dn)
    levels = np.concatenate([t_up[t_up > 0], t_dn[t_dn > 0]])
    if not levels.size:
        return None
    ref = float(np.median(levels))
    x = x.copy()
    moves = []
    for d, need in ((1.0, t_up), (-1.0, t_dn)):
        open_ = np.flatnonzero(need > 0)
        for _ in range(3):  # what one move cannot meet together, a second or third may
            if not open_.size:
                break
            z = _batch_move(p, M, x, d, open_, need[open_], up_cap, dn_cap, ref, until)
            if z is None:
                return None
            x[z != 0] = 1.0
            moves.append(z)
            open_ = open_[d * z[open_] < need[open_]]
        if open_.size:
            return None
    return x, moves


def _batch_move(p: Problem, M, x, d, ks, need, up_cap, dn_cap, ref, until: Deadline) -> np.ndarray | None:
    """One move of :func:`_batch_moves`: ``d z_k + s_k >= need_k`` for the cells ``ks``, each slack
    ``s_k`` costing far more than moving cells does (so the LP is always feasible)."""
    n = p.n
    nk = ks.size
    # z = u - v; row k of the requirements: d (u_k - v_k) + s_k >= need_k
    R = sp.csr_matrix((np.full(nk, d), (np.arange(nk), ks)), shape=(nk, n))
    m = M.shape[0]
    A = sp.vstack([sp.hstack([M, -M, sp.csr_matrix((m, nk))]),
                   sp.hstack([R, -R, sp.identity(nk, format="csr")])], format="csr")
    unit = np.where(x > 0.5, 0.0, p.weight / max(ref, 1e-9)) + 1e-9
    penalty = 1e3 * max(float(unit.max()), 1e-6)
    lp = LinearProgram(c=np.concatenate([unit, unit, np.full(nk, penalty)]), A=A,
                       row_lo=np.concatenate([np.zeros(m), need * (1 + 1e-7)]),
                       row_hi=np.concatenate([np.zeros(m), np.full(nk, np.inf)]),
                       col_lo=np.zeros(2 * n + nk),
                       col_hi=np.concatenate([up_cap, dn_cap, np.full(nk, np.inf)]))
    sol = HighsModel(lp).solve_lp(time_limit=until.limit(), cold=True)
    if sol.status != "optimal" or sol.x is None:
        return None
    z = sol.x[:n] - sol.x[n:2 * n]
    return np.where(np.abs(z) > 1e-9 * max(1.0, np.abs(z).max(initial=0.0)), z, 0.0)


def _chunk_cleanup(p: Problem, x: np.ndarray, moves: list, sep: Separator, until: Deadline) -> np.ndarray:
    """Un-hide complementary cells, dearest first, in chunks: a chunk goes when batch moves
    certify every requirement of the pattern without it (:func:`certify_levels`; no per-cell
    LPs, so a pattern they cannot certify counts as failing). A failing chunk is halved; a
    single cell that fails stays hidden. Moves that do not use the chunk serve as seeds. It
    stops at ``until``."""
    x = x.copy()
    need = p.sensitive & ((p.up > 0) | (p.dn > 0) | (p.spl > 0))
    cand = np.flatnonzero((x > 0.5) & ~p.force_hidden)
    cand = cand[np.argsort(-p.weight[cand], kind="stable")]
    size = max(1, cand.size // 8)
    i = 0
    while i < cand.size:
        if until.expired():
            break
        chunk = cand[i:i + size]
        y = x.copy()
        y[chunk] = 0.0
        kept = [m for m in moves if not np.any(m[chunk] != 0)]
        cert, held = certify_levels(p.M, y > 0.5, p.cap_up, p.cap_dn, p.up, p.dn, p.spl, either=p.either_side,
                                    seeds=kept, time_limit=until.limit(), focus=2 * int(need.sum()), first_failure=True)
        sep.n_lps += cert.lps
        if held[need].all() and not (p.equation_sum_rule and equation_sum_disclosures(p, y)):
            x, moves = y, kept
            i += chunk.size
        elif size == 1:
            i += 1
        else:
            size = max(1, size // 2)
    return x


def _cert_witness(p: Problem, cert, k: int) -> dict:
    """``kind -> cells`` of the verified moves that protect cell ``k`` (as :class:`Separator` fills them)."""
    up, dn = cert.witness(k, 1.0), cert.witness(k, -1.0)
    if p.either_side:
        held = {}
        if cert.reaches(p.up[k:k + 1], 1.0)[0]:
            held["up"] = up
        if cert.reaches(p.dn[k:k + 1], -1.0)[0]:
            held["dn"] = dn
        return held
    held = {}
    if p.up[k] > 0:
        held["up"] = up
    if p.dn[k] > 0:
        held["dn"] = dn
    if p.spl[k] > 0:
        parts = [w for w in (up, dn) if w is not None]
        held["spl"] = np.unique(np.concatenate(parts)) if parts else None
    return held


def _cheapest_moves(p: Problem, x: np.ndarray, failing: list[Violation], give_up: Deadline = NEVER,
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


def _cleanup(p: Problem, x: np.ndarray, sep: Separator, witnesses: dict, until: Deadline) -> np.ndarray:
    """Un-hide complementary cells (dearest first) that no requirement needs.

    A cell that no attacker witness uses can go without any LP; otherwise only
    the requirements whose witnesses use it are re-checked, on one attacker LP
    over the hidden cells whose bounds change in place (no model rebuilt). It stops at ``until``.
    """
    x = x.copy()
    cols = np.flatnonzero(x > 0.5)
    M = sep.M
    rows = np.flatnonzero(np.asarray(abs(M[:, cols]).sum(axis=1)).ravel() > 0)
    lo, hi = -p.cap_dn[cols], p.cap_up[cols]
    model = HighsModel(LinearProgram(c=np.zeros(cols.size), A=M[rows][:, cols], row_lo=np.zeros(rows.size),
                                     row_hi=np.zeros(rows.size), col_lo=lo, col_hi=hi))
    cur_lo, cur_hi = lo.copy(), hi.copy()
    local = {c: i for i, c in enumerate(cols)}
    cand = np.flatnonzero((x > 0.5) & ~p.force_hidden)
    cand = cand[np.argsort(-p.weight[cand], kind="stable")]
    last_failed: dict = {}  # requirement -> the step at which it last kept a candidate hidden
    for step, j in enumerate(cand):
        if until.expired():
            break
        affected = [k for k, held in witnesses.items() if _needs(p, held, j)]
        x[j] = 0.0
        if p.equation_sum_rule and equation_sum_disclosures(p, x):
            x[j] = 1.0
            continue
        jj = np.array([local[j]])
        model.set_col_bounds(jj, [0.0], [0.0])
        cur_lo[jj] = cur_hi[jj] = 0.0
        pool = MovePool(cur_lo, cur_hi)  # moves found while checking j serve the other cells
        new: dict = {}
        # most candidates stay hidden, and one failing requirement is enough to know it: the
        # requirements that failed last are checked first, and the first failure ends the check
        affected.sort(key=lambda k: -last_failed.get(k, -1))
        failed = False
        for k in affected:
            if until.expired():  # out of time mid-check: keep j hidden and stop
                failed = True
                break
            if _filter_either_side(p, sep._check_cell(model, k, local[k], cols, rows, x, None, new, pool)):
                last_failed[k] = step
                failed = True
                break
        if failed:
            x[j] = 1.0
            model.set_col_bounds(jj, lo[jj], hi[jj])
            cur_lo[jj], cur_hi[jj] = lo[jj], hi[jj]
            continue
        witnesses.update(new)
        # a witness that moved j no longer exists (under either_side another side may still hold)
        for k, held in witnesses.items():
            if k not in new:
                witnesses[k] = {kind: w for kind, w in held.items() if w is not None and j not in w}
    return x


def _needs(p: Problem, held: dict, j: int) -> bool:
    """Whether a cell's requirements may fail once ``j`` is published."""
    uses = [w is None or j in w for w in held.values()]
    if not uses:  # no witness left: check again
        return True
    return all(uses) if p.either_side else any(uses)


def _filter_either_side(p: Problem, viol: list[Violation]) -> list[Violation]:
    """Under ``either_side`` a cell fails only when both sides fail; keep its cheaper-to-fix side."""
    if not p.either_side:
        return viol
    by_cell: dict[int, list[Violation]] = {}
    for v in viol:
        by_cell.setdefault(v.cell, []).append(v)
    out = []
    for k, vs in by_cell.items():
        need = int(p.up[k] > 0) + int(p.dn[k] > 0)
        if len(vs) >= need:
            out.append(min(vs, key=lambda v: v.level - v.gain))
    return out


def _greedy_cover(p: Problem, x: np.ndarray, A: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
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


# -- the optimal method ----------------------------------------------------------------------------

