"""The attacker's feasibility intervals: what can be derived about every hidden cell.

For a suppression pattern the feasibility interval of a hidden cell ``k`` is
``[min y_k, max y_k]`` over all tables ``y`` that satisfy the equations, agree
with every published value and respect the a-priori bounds. Each connected
block of hidden cells is one LP (or MILP with ``integer=True``); only the
objective changes between its solves, so HiGHS warm starts, and solves whose
answer is already known exactly are skipped.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import AuditError
from ..solvers import HighsModel, LinearProgram
from ..tables.linear import LinearTable, block_members, hidden_blocks

TOL = 1e-6

@dataclass
class Intervals:
    """Feasibility intervals of all cells (published cells: ``lo = hi = value``)."""

    lo: np.ndarray
    hi: np.ndarray
    n_blocks: int
    n_solves: int
    seconds: float
    block_of_cell: np.ndarray
    row_target: np.ndarray  # per equation: the known signed sum of its hidden cells



def row_targets(table: LinearTable, hidden: np.ndarray) -> np.ndarray:
    """Per equation, the known value of ``sum_j M_rj y_j`` over its hidden cells.

    Where every hidden value of the row is known it is their signed sum (so
    tables that are not exactly additive still audit); otherwise it comes
    from the published cells and the right-hand side.
    """
    M = table.M
    a = table.values
    Mh = M[:, hidden]
    ah = a[hidden]
    unknown_h = np.isnan(ah)
    from_hidden = Mh @ np.nan_to_num(ah)
    if not unknown_h.any():
        return from_hidden
    pub = ~hidden
    ap = a[pub]
    if np.isnan(ap).any():
        bad = np.flatnonzero(pub & np.isnan(a))
        raise AuditError(f"published cells without a value: {', '.join(table.cell_labels(bad[:5]))}")
    from_pub = table.rhs - M[:, pub] @ ap
    needs_pub = (abs(Mh) @ unknown_h.astype(float)) > 0
    return np.where(needs_pub, from_pub, from_hidden)


def feasibility_intervals(table: LinearTable, hidden: np.ndarray, attacker_lb: np.ndarray | None = None,
                          integer: bool = False, progress: bool = False, only: np.ndarray | None = None) -> Intervals:
    """Attacker's interval of every hidden cell (published cells get ``lo = hi = value``).

    ``only`` (a boolean mask) limits the work to those cells; other hidden cells get NaN.

    >>> import numpy as np, scipy.sparse as sp
    >>> t = LinearTable(values=np.array([8., 3., 5.]), M=sp.csr_matrix([[-1., 1, 1]]))
    >>> iv = feasibility_intervals(t, np.array([False, True, True]))
    >>> iv.lo.tolist(), iv.hi.tolist()
    ([8.0, 0.0, 0.0], [8.0, 8.0, 8.0])
    """
    t0 = time.perf_counter()
    hidden = np.asarray(hidden, dtype=bool)
    lb = table.lb if attacker_lb is None else attacker_lb
    lb = np.where(hidden, lb, table.lb)
    ub = table.ub
    lo = table.values.copy()
    hi = table.values.copy()
    target = row_targets(table, hidden)
    nb, bcell, brow = hidden_blocks(table.M, hidden)
    M = sp.csr_matrix(table.M)
    cell_order, cell_cuts = block_members(bcell, nb)
    row_order, row_cuts = block_members(brow, nb)
    solves = 0
    last_report = time.perf_counter()
    for b in range(nb):
        cells = cell_order[cell_cuts[b]:cell_cuts[b + 1]]
        rows = row_order[row_cuts[b]:row_cuts[b + 1]]
        A = M[rows][:, cells]
        wanted = None if only is None else only[cells]
        if wanted is not None and not wanted.any():
            lo[cells] = hi[cells] = np.nan
            continue
        blo, bhi, n = _block_intervals(A, target[rows], lb[cells], ub[cells], integer, table, cells, wanted)
        lo[cells], hi[cells] = blo, bhi
        solves += n
        if progress and time.perf_counter() - last_report > 2:
            last_report = time.perf_counter()
            print(f"audit: block {b + 1}/{nb}, {solves} solves, {last_report - t0:.1f} s", file=sys.stderr)
    return Intervals(lo, hi, nb, solves, time.perf_counter() - t0, bcell, target)


def _block_intervals(A, t, lb, ub, integer, table, cells, wanted=None):
    """Intervals of one block's cells and the number of LPs (or MILPs) solved.

    Two solves per cell at most, fewer when an answer is already known exactly:
    a feasible table found so far reaches the cell's a-priori bound; the cell is tied to an
    already solved one by an exact relation ``y_i = c + s y_j`` (see :func:`_relations`), so the
    same table is optimal for both; or (LP only) a table found reaches a value that the
    Lagrangian bound of an earlier solve's duals proves optimal.
    """
    k = A.shape[1]
    if k == 1:
        # a lone hidden cell: any equation it is in pins it
        coef = A.toarray().ravel()
        nz = np.flatnonzero(coef)
        if nz.size == 0:
            return lb.copy(), ub.copy(), 0
        vals = t[nz] / coef[nz]
        v = vals[0]
        if np.abs(vals - v).max() > TOL * max(1, abs(v)) or v < lb[0] - TOL or v > ub[0] + TOL:
            raise AuditError(f"published values contradict each other around hidden {table.cell_labels(cells)[0]}")
        return np.array([v]), np.array([v]), 0
    A = sp.csr_matrix(A, dtype=float)
    if k >= _RELATE_MIN:
        group, const, scale = _relations(A, t, lb, ub)
    else:
        group, const, scale = np.full(k, -1), np.zeros(k), np.ones(k)
    by_group = np.argsort(group, kind="stable")
    cuts = np.searchsorted(group[by_group], np.arange(max(group.max(), -1) + 2))
    pinned = np.flatnonzero(group == _PINNED)
    lp = LinearProgram(c=np.zeros(k), A=A, row_lo=t, row_hi=t, col_lo=lb, col_hi=ub,
                       integer=np.full(k, bool(integer)))
    model = HighsModel(lp)
    if integer:
        # the default relative gap (1e-4) may stop short of the optimum on cells of 10,000 or more
        model.set_option("mip_rel_gap", 0.0)
    else:
        # only the objective changes, so the basis stays primal feasible: primal simplex re-solves
        # in a few iterations where dual simplex takes hundreds
        model.set_option("simplex_strategy", 4)
    lo = np.full(k, np.nan)
    hi = np.full(k, np.nan)
    wanted = np.ones(k, dtype=bool) if wanted is None else np.asarray(wanted, dtype=bool)
    done_lo = np.zeros(k, dtype=bool)
    done_hi = np.zeros(k, dtype=bool)
    # range of the feasible tables found so far (attained values), and proven bounds from duals
    seen_lo = np.full(k, np.inf)
    seen_hi = np.full(k, -np.inf)
    dual_lo = np.full(k, -np.inf)
    dual_hi = np.full(k, np.inf)
    with np.errstate(invalid="ignore"):
        at_lb = lb + _EXACT * np.maximum(1, np.abs(lb))
        at_ub = ub - _EXACT * np.maximum(1, np.abs(ub))
    # HiGHS's primal feasibility tolerance, plus rounding on the largest value
    feas_tol = 1e-7 + 1e-12 * np.abs(t).max(initial=0.0)
    retries = 3  # cold re-solves that leave residuals: then the model is beyond it, stop trying
    have_point = False
    c = np.zeros(k)
    solves = 0
    for j in range(k):
        if not wanted[j]:
            continue
        # alternate the direction that comes first: the next solve starts near the last optimum
        for maximize in ((False, True) if j % 2 == 0 else (True, False)):
            if maximize:
                if done_hi[j]:
                    continue
                if seen_hi[j] >= at_ub[j]:
                    hi[j] = ub[j]
                    continue
                if seen_hi[j] > -np.inf and dual_hi[j] <= seen_hi[j] + _EXACT * max(1, abs(seen_hi[j])):
                    hi[j] = seen_hi[j]
                    continue
            else:
                if done_lo[j]:
                    continue
                if seen_lo[j] <= at_lb[j]:
                    lo[j] = lb[j]
                    continue
                if seen_lo[j] < np.inf and dual_lo[j] >= seen_lo[j] - _EXACT * max(1, abs(seen_lo[j])):
                    lo[j] = seen_lo[j]
                    continue
            c[j] = 1.0
            model.set_objective(c, maximize=maximize)
            sol = model.solve()
            solves += 1
            ok = sol.x is not None and _feasible(A, t, lb, ub, sol.x, feas_tol)
            if sol.status == "optimal" and not ok and not integer and retries:
                # a warm re-solve sometimes ends "optimal" with residuals above HiGHS's tolerance
                # and an objective off by ~1e-6; from scratch it is accurate
                sol = model.solve(cold=True)
                solves += 1
                ok = sol.x is not None and _feasible(A, t, lb, ub, sol.x, feas_tol)
                retries -= 0 if ok else 1
            c[j] = 0.0
            out, done = (hi, done_hi) if maximize else (lo, done_lo)
            other, other_done = (lo, done_lo) if maximize else (hi, done_hi)
            done[j] = True
            if sol.status == "optimal":
                out[j] = sol.objective
            elif sol.status == "unbounded":
                out[j] = np.inf if maximize else -np.inf
            elif sol.status == "infeasible":
                raise AuditError(
                    "the published values admit no table within the bounds: block of hidden cells "
                    f"{', '.join(table.cell_labels(cells[:5]))}{' ...' if k > 5 else ''}")
            else:
                raise AuditError(f"the solver failed ({sol.status}) on the block of {', '.join(table.cell_labels(cells[:3]))}")
            if not have_point:
                # a table exists (an integer one if integer): pinned cells take their value
                lo[pinned] = hi[pinned] = const[pinned]
                done_lo[pinned] = done_hi[pinned] = True
                have_point = True
            if group[j] >= 0:
                # the anchor's optimum, hence every member's: in j's direction if the member
                # moves with j, in the other one if against
                mem = by_group[cuts[group[j]]:cuts[group[j] + 1]]
                with np.errstate(invalid="ignore"):
                    val = const[mem] + scale[mem] * ((out[j] - const[j]) / scale[j])
                same = np.sign(scale[mem]) == np.sign(scale[j])
                _take(mem[same], val[same], out, done)
                _take(mem[~same], val[~same], other, other_done)
            if ok:
                np.minimum(seen_lo, sol.x, out=seen_lo)
                np.maximum(seen_hi, sol.x, out=seen_hi)
            if sol.row_duals is not None:
                # HiGHS's reduced costs are c - A^T y: the row duals y are the multipliers (a wrong
                # sign would only give useless bounds, never wrong ones)
                g = A.T @ sol.row_duals
                ut = float(sol.row_duals @ t)
                np.minimum(dual_hi, _lagrangian(g, ut, lb, ub, True), out=dual_hi)
                np.maximum(dual_lo, _lagrangian(g, ut, lb, ub, False), out=dual_lo)
    if integer:
        lo, hi = np.ceil(lo - TOL) + 0.0, np.floor(hi + TOL) + 0.0
    return lo, hi, solves


def _take(idx, val, out, done) -> None:
    """``val`` as the answers of the cells ``idx`` not answered yet."""
    new = ~done[idx]
    out[idx[new]] = val[new]
    done[idx[new]] = True


_PINNED = -2
_RELATE_MIN = 10  # below this the extra LP and factorisation cost about what they save


def _relations(A, t, lb, ub, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells tied by an exact affine relation on every table ``A y = t``.

    Returns ``(group, const, scale)``. A cell of a group (``group >= 0``) is
    ``y_i = const_i + scale_i * y_a`` on every table, ``a`` the group's anchor (``const 0,
    scale 1``); so the table that optimises one member optimises all of them. A cell of
    ``group == -2`` is ``const_i`` on every table. ``-1``: neither.

    Candidates come from random projections of the null space of ``A`` (parametrised by the
    non-basic columns of a basis of a first LP); each is then proven by a row combination
    ``w`` with ``A^T w = e_i - scale_i e_a`` (or ``e_i``), which gives ``const_i = w . t``: the
    result does not rest on chance.
    """
    import scipy.sparse.linalg as spla

    m, k = A.shape
    group = np.full(k, -1)
    const = np.zeros(k)
    scale = np.ones(k)
    none = (group, const, scale)
    try:
        model = HighsModel(LinearProgram(c=np.zeros(k), A=A, row_lo=t, row_hi=t, col_lo=lb, col_hi=ub))
        if model.solve().status != "optimal":
            return none  # the solves proper report it
        basic = model.basis()
    except Exception:  # noqa: BLE001 - a shortcut only: without it every cell is solved
        return none
    if basic.size != m:
        return none
    is_col = basic >= 0
    pos = np.full(k, -1)
    pos[basic[is_col]] = np.flatnonzero(is_col)
    # the basis matrix: a column of A or a row's slack (unit column) per basis position
    Ac = A.tocoo()
    keep = pos[Ac.col] >= 0
    slack_at = np.flatnonzero(~is_col)
    Bm = sp.csc_matrix((np.concatenate([Ac.data[keep], np.ones(slack_at.size)]),
                        (np.concatenate([Ac.row[keep], -1 - basic[slack_at]]),
                         np.concatenate([pos[Ac.col[keep]], slack_at]))), shape=(m, m))
    try:
        lu = spla.splu(Bm)
    except RuntimeError:
        return none
    fixed = lb >= ub
    free = (pos < 0) & ~fixed
    R = np.random.default_rng(seed).standard_normal((int(free.sum()), 3))
    P = np.zeros((k, 3))
    P[free] = R
    basic_cols = basic[is_col]
    P[basic_cols] = -lu.solve(np.asarray(A[:, free] @ R))[pos[basic_cols]]
    size = np.abs(P).max(initial=0.0)
    if not np.isfinite(size):
        return none
    zero = (np.abs(P).max(axis=1) <= 1e-9 * size) & ~fixed
    live = np.flatnonzero(~zero & ~fixed)
    lead = P[live, 0]
    ok_lead = np.abs(lead) > 1e-9 * size
    live = live[ok_lead]
    lead = lead[ok_lead]
    key = np.round(P[live, 1:] / lead[:, None], 6)
    _, cand, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    cand = cand.ravel()
    in_pair = counts[cand] > 1
    live, lead, cand = live[in_pair], lead[in_pair], cand[in_pair]
    first = np.full(counts.size, k)
    np.minimum.at(first, cand, live)  # the lowest index of a candidate group is its anchor
    anchor = first[cand]
    ratio = lead / P[anchor, 0]
    # prove every relation: w solves B^T w = b with b the relation's basic part, then A^T w must
    # be the whole relation
    ci = np.concatenate([np.flatnonzero(zero), live])
    ca = np.concatenate([np.full(int(zero.sum()), -1), anchor])
    cr = np.concatenate([np.zeros(int(zero.sum())), ratio])
    proven = np.zeros(ci.size, dtype=bool)
    wt = np.zeros(ci.size)
    batch = max(1, int(1e6 // max(m, 1)))
    AT = sp.csr_matrix(A.T)
    bc = np.flatnonzero(pos >= 0)
    for s0 in range(0, ci.size, batch):
        i, a, r = ci[s0:s0 + batch], ca[s0:s0 + batch], cr[s0:s0 + batch]
        n = i.size
        col = np.arange(n)
        rel = sp.csr_matrix((np.ones(n), (i, col)), shape=(k, n))
        has_a = a >= 0
        rel = rel - sp.csr_matrix((r[has_a], (a[has_a], col[has_a])), shape=(k, n))
        rel = rel.toarray()
        b = np.zeros((m, n))
        b[pos[bc]] = rel[bc]
        W = lu.solve(b, trans="T")
        resid = np.abs(AT @ W - rel).max(axis=0)
        proven[s0:s0 + batch] = resid <= _EXACT * np.maximum(1, np.abs(r))
        wt[s0:s0 + batch] = t @ W
    pz = proven & (ca < 0)
    group[ci[pz]] = _PINNED
    const[ci[pz]] = wt[pz]
    group[fixed] = _PINNED
    const[fixed] = lb[fixed]
    pr = proven & (ca >= 0)
    members = ci[pr]
    anchors = ca[pr]
    ids = np.unique(anchors)
    group[ids] = np.arange(ids.size)
    group[members] = np.searchsorted(ids, anchors)
    const[members] = wt[pr]
    scale[members] = cr[pr]
    return group, const, scale


# relative tolerance for an answer taken without a solve; far below the solver's own
_EXACT = 1e-9


def _feasible(A, t, lb, ub, x, tol: float) -> bool:
    """Whether a solver's solution is a table within ``tol`` (HiGHS may return one beyond it)."""
    if not (np.abs(A @ x - t) <= tol).all():
        return False
    with np.errstate(invalid="ignore"):
        return bool(((x >= lb - tol) & (x <= ub + tol)).all())


def _lagrangian(g, ut, lb, ub, upper: bool) -> np.ndarray:
    """For every cell i the Lagrangian bound on max y_i (``upper``) or min y_i with multipliers u.

    ``g = A^T u``, ``ut = u . t``. Since ``A y = t``, ``y_i = ut + (e_i - g) . y``; over the box
    that is at most (least) ``ut + sum_j`` of each term's max (min). Valid for any u.
    """
    def term(d):
        hi_side, lo_side = (ub, lb) if upper else (lb, ub)
        with np.errstate(invalid="ignore"):
            return np.where(d > 0, d * hi_side, np.where(d < 0, d * lo_side, 0.0))

    base = term(-g)
    own = term(1.0 - g)
    inf_base = np.isinf(base)
    inf_own = np.isinf(own)
    fin_base = np.where(inf_base, 0.0, base)
    total = ut + fin_base.sum()
    n_inf = int(inf_base.sum()) - inf_base + inf_own
    out = total - fin_base + np.where(inf_own, 0.0, own)
    return np.where(n_inf > 0, np.inf if upper else -np.inf, out)
