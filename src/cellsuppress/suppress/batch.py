"""Batch moves: attacker moves that each meet many requirements at once. They are the heuristic's
last resort before hiding every free cell, and, as verified certificates
(:mod:`cellsuppress.auditing.certify`), what checks and cleans up the big patterns it then has:
a check of such a pattern by one LP per requirement over one huge block of hidden cells is slow.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from ..auditing.certify import certify_levels, level_targets, negligible
from ..clock import NEVER, Deadline
from ..solvers import HighsModel, LinearProgram
from . import schedule
from .problem import Problem
from .separation import Separator, Violation, equation_sum_disclosures


def check_certified(p: Problem, sep: Separator, x: np.ndarray, witnesses: dict,
                     check: Deadline = NEVER, deadline: Deadline = NEVER, seeds=None,
                     first_failure: bool = False, moves: list | None = None,
                     give_up: Deadline = NEVER) -> list[Violation]:
    """``sep.violations(x, witnesses=...)`` with the requirements that verified batch moves meet
    (:func:`cellsuppress.certify.certify_levels`) taken out first; only the rest get their own
    attacker LPs, which may stop at their first violation past ``check``. The certified cells'
    witnesses are the supports of their moves. ``first_failure``: the certificates stop at the
    first requirement they cannot meet (for a pattern that may well fail: the LPs then find
    the violations, and their cuts). The verified moves are appended to ``moves`` (a sparse
    matrix, one per row), when given: certificates of the pattern for a later check. Past
    ``give_up`` the LPs raise :class:`~cellsuppress.suppress.separation.OutOfTime`."""
    hidden = x > 0.5
    # the certificates get at least their floor even past the end of the run: cut short, they
    # leave an attacker LP per requirement, with no limit, which takes longer still
    cert, held = certify_levels(p.M, hidden, p.cap_up, p.cap_dn, p.up, p.dn, p.spl, either=p.either_side,
                                time_limit=deadline.at_least(schedule.CERTIFY_MIN).limit(), seeds=seeds,
                                focus=2 * int(p.sensitive.sum()), first_failure=first_failure)
    sep.n_lps += cert.lps
    if moves is not None:
        moves.append(cert.moves(p.n))
    if held.any():
        rest = dataclasses.replace(p, up=np.where(held, 0.0, p.up), dn=np.where(held, 0.0, p.dn),
                                   spl=np.where(held, 0.0, p.spl))
        rest_sep = Separator(rest)
        try:
            viol = rest_sep.violations(x, witnesses=witnesses, deadline=check, give_up=give_up)
        finally:
            sep.n_lps += rest_sep.n_lps
    else:
        viol = sep.violations(x, witnesses=witnesses, deadline=check, give_up=give_up)
    certified_witnesses(p, cert, held, witnesses)
    return viol


def certified_witnesses(p: Problem, cert, held: np.ndarray, witnesses: dict) -> None:
    """``witnesses`` (as :meth:`Separator.violations` fills them) of the cells ``held`` by the
    verified moves of ``cert``: the cells of those moves."""
    for k in np.flatnonzero(held):
        witnesses[k] = _cert_witness(p, cert, int(k))



def moves_within(W: sp.spmatrix, hidden: np.ndarray) -> sp.csr_matrix:
    """The moves of ``W`` (one per row, a column per cell) that still hold for a pattern: every
    cell they move ``hidden``; moves of no cell are dropped. A move's :func:`negligible` entries
    (an LP's noise, which the certificates drop) do not count, and go: a move that moves a
    published cell by 1e-14 still holds.

    >>> W = sp.csr_matrix([[1., -1., 0.], [0., 1., -1.], [0., 0., 0.], [1e-15, 1., -1.]])
    >>> moves_within(W, np.array([False, True, True])).toarray().tolist()
    [[0.0, 1.0, -1.0], [0.0, 1.0, -1.0]]
    """
    W = sp.csr_matrix(W)
    rows = W.shape[0]
    row = np.repeat(np.arange(rows), np.diff(W.indptr))
    moved = ~negligible(W) & (W.data != 0)
    broken = np.bincount(row[moved & ~hidden[W.indices]], minlength=rows) > 0
    kept = ~broken & (np.bincount(row[moved], minlength=rows) > 0)
    take = moved & kept[row]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row[take], minlength=rows)[kept])])
    return sp.csr_matrix((W.data[take], W.indices[take], indptr), shape=(int(kept.sum()), W.shape[1]))



def batch_moves(p: Problem, x: np.ndarray, until: Deadline = NEVER,
                switch_after: float = schedule.BATCH_SWITCH_WORK) -> tuple[np.ndarray, list] | None:
    """``x`` with the cells of a few moves hidden: per direction, one that meets every level of
    that direction at once (sliding levels as in :func:`certify_levels`; under ``either_side`` the upward
    side where the cell can go that far), then up to two more for the levels it missed. Each is an
    LP over all cells, ``M z = 0`` within the capacities, moving a hidden cell free and a published
    one at its weight per unit of the median level. Returns ``(x, moves)``, or None when some level
    is still unmet (or the LPs ran out of time, at ``until``). Each LP leaves simplex for the
    interior point method after ``switch_after`` work (:meth:`HighsModel.solve_lp`).
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
            z = _batch_move(p, M, x, d, open_, need[open_], up_cap, dn_cap, ref, until, switch_after)
            if z is None:
                return None
            x[z != 0] = 1.0
            moves.append(z)
            open_ = open_[d * z[open_] < need[open_]]
        if open_.size:
            return None
    return x, moves



def _batch_move(p: Problem, M, x, d, ks, need, up_cap, dn_cap, ref, until: Deadline,
                switch_after: float) -> np.ndarray | None:
    """One move of :func:`batch_moves`: ``d z_k + s_k >= need_k`` for the cells ``ks``, each slack
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
    sol = HighsModel(lp).solve_lp(switch_after=switch_after, time_limit=until.limit(), cold=True)
    if sol.status != "optimal" or sol.x is None:
        return None
    z = sol.x[:n] - sol.x[n:2 * n]
    return np.where(np.abs(z) > 1e-9 * max(1.0, np.abs(z).max(initial=0.0)), z, 0.0)



def chunk_cleanup(p: Problem, x: np.ndarray, moves: list, sep: Separator, until: Deadline) -> np.ndarray:
    """Un-hide complementary cells, dearest first, in chunks: a chunk goes when batch moves
    certify every requirement of the pattern without it (:func:`certify_levels`; no per-cell
    LPs, so a pattern they cannot certify counts as failing). A failing chunk is halved; a
    single cell that fails stays hidden. Moves that do not use the chunk serve as seeds. It
    stops at ``until``."""
    x = x.copy()
    need = p.has_requirement
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

