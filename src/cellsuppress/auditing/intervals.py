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

    Two solves per cell at most, fewer when an answer is already known exactly (see
    :class:`_BlockSolver`).
    """
    k = A.shape[1]
    if k == 1:
        return _lone_cell(A, t, lb, ub, table, cells)
    solver = _BlockSolver(sp.csr_matrix(A, dtype=float), t, lb, ub, integer, table, cells)
    wanted = np.ones(k, dtype=bool) if wanted is None else np.asarray(wanted, dtype=bool)
    for j in np.flatnonzero(wanted).tolist():
        # alternate the direction that comes first: the next solve starts near the last optimum
        for maximize in ((False, True) if j % 2 == 0 else (True, False)):
            if not solver.known_without_solve(j, maximize):
                solver.solve(j, maximize)
    return solver.result()


def _lone_cell(A, t, lb, ub, table, cells):
    """The interval of a block of one hidden cell: any equation it is in pins it."""
    coef = A.toarray().ravel()
    nz = np.flatnonzero(coef)
    if nz.size == 0:
        return lb.copy(), ub.copy(), 0
    vals = t[nz] / coef[nz]
    v = vals[0]
    if np.abs(vals - v).max() > TOL * max(1, abs(v)) or v < lb[0] - TOL or v > ub[0] + TOL:
        raise AuditError(f"published values contradict each other around hidden {table.cell_labels(cells)[0]}")
    return np.array([v]), np.array([v]), 0


class _BlockSolver:
    """The interval solves of one block of hidden cells ``A y = t``, ``lb <= y <= ub``, and what
    their solutions teach about the cells not solved yet.

    Only the objective changes between solves, so HiGHS warm starts. An answer is taken without
    a solve when it is already known exactly: a feasible table found so far reaches the cell's
    a-priori bound; the cell is tied to an already solved one by an exact relation
    ``y_i = c + s y_j`` (see :func:`_relations`), so the same table is optimal for both; or (LP
    only) a table found reaches a value that the Lagrangian bound of an earlier solve's duals
    proves optimal.
    """

    def __init__(self, A: sp.csr_matrix, t, lb, ub, integer: bool, table: LinearTable, cells: np.ndarray):
        k = A.shape[1]
        self.A, self.t, self.lb, self.ub, self.integer = A, t, lb, ub, integer
        self.table, self.cells = table, cells  # for the messages
        if k >= _RELATE_MIN:
            self.group, self.const, self.scale = _relations(A, t, lb, ub)
        else:
            self.group, self.const, self.scale = np.full(k, -1), np.zeros(k), np.ones(k)
        self.by_group = np.argsort(self.group, kind="stable")
        self.cuts = np.searchsorted(self.group[self.by_group], np.arange(max(self.group.max(), -1) + 2))
        self.model = _interval_model(A, t, lb, ub, integer)
        self.c = np.zeros(k)
        self.solves = 0
        self.lo = np.full(k, np.nan)
        self.hi = np.full(k, np.nan)
        self.done_lo = np.zeros(k, dtype=bool)
        self.done_hi = np.zeros(k, dtype=bool)
        # range of the feasible tables found so far (attained values), and proven bounds from duals
        self.seen_lo = np.full(k, np.inf)
        self.seen_hi = np.full(k, -np.inf)
        self.dual_lo = np.full(k, -np.inf)
        self.dual_hi = np.full(k, np.inf)
        with np.errstate(invalid="ignore"):
            self.at_lb = lb + _EXACT * np.maximum(1, np.abs(lb))
            self.at_ub = ub - _EXACT * np.maximum(1, np.abs(ub))
        # HiGHS's primal feasibility tolerance, plus rounding on the largest value
        self.feas_tol = 1e-7 + 1e-12 * np.abs(t).max(initial=0.0)
        self.retries = 3  # cold re-solves that leave residuals: then the model is beyond it, stop trying
        self.have_point = False

    def _side(self, maximize: bool) -> tuple[np.ndarray, np.ndarray]:
        """The answers and their done flags in one direction."""
        return (self.hi, self.done_hi) if maximize else (self.lo, self.done_lo)

    def known_without_solve(self, j: int, maximize: bool) -> bool:
        """Whether cell ``j``'s optimum in this direction is known without a solve (then it is set)."""
        if maximize:
            seen = self.seen_hi[j]
            if self.done_hi[j]:
                return True
            if seen >= self.at_ub[j]:
                self.hi[j] = self.ub[j]
                return True
            if seen > -np.inf and self.dual_hi[j] <= seen + _EXACT * max(1, abs(seen)):
                self.hi[j] = seen
                return True
        else:
            seen = self.seen_lo[j]
            if self.done_lo[j]:
                return True
            if seen <= self.at_lb[j]:
                self.lo[j] = self.lb[j]
                return True
            if seen < np.inf and self.dual_lo[j] >= seen - _EXACT * max(1, abs(seen)):
                self.lo[j] = seen
                return True
        return False

    def solve(self, j: int, maximize: bool) -> None:
        """Solve for cell ``j``'s optimum in one direction and pass on what the solution shows."""
        sol, ok = self._optimum(j, maximize)
        out, done = self._side(maximize)
        done[j] = True
        out[j] = self._answer(sol, maximize)
        if not self.have_point:
            # a table exists (an integer one if integer): pinned cells take their value
            pinned = np.flatnonzero(self.group == _PINNED)
            self.lo[pinned] = self.hi[pinned] = self.const[pinned]
            self.done_lo[pinned] = self.done_hi[pinned] = True
            self.have_point = True
        if self.group[j] >= 0:
            self.spread(j, maximize)
        self.learn(sol, ok)

    def _optimum(self, j: int, maximize: bool):
        """The solver's solution for cell ``j`` and whether it is a table within tolerance."""
        self.c[j] = 1.0
        self.model.set_objective(self.c, maximize=maximize)
        sol = self.model.solve()
        self.solves += 1
        ok = sol.x is not None and _feasible(self.A, self.t, self.lb, self.ub, sol.x, self.feas_tol)
        if sol.status == "optimal" and not ok and not self.integer and self.retries:
            # a warm re-solve sometimes ends "optimal" with residuals above HiGHS's tolerance
            # and an objective off by ~1e-6; from scratch it is accurate
            sol = self.model.solve(cold=True)
            self.solves += 1
            ok = sol.x is not None and _feasible(self.A, self.t, self.lb, self.ub, sol.x, self.feas_tol)
            self.retries -= 0 if ok else 1
        self.c[j] = 0.0
        return sol, ok

    def _answer(self, sol, maximize: bool) -> float:
        """The optimum of a solve; raises when the block has no table or the solver failed."""
        if sol.status == "optimal":
            return sol.objective
        if sol.status == "unbounded":
            return np.inf if maximize else -np.inf
        cells, labels = self.cells, self.table.cell_labels
        if sol.status == "infeasible":
            raise AuditError(
                "the published values admit no table within the bounds: block of hidden cells "
                f"{', '.join(labels(cells[:5]))}{' ...' if cells.size > 5 else ''}")
        raise AuditError(f"the solver failed ({sol.status}) on the block of {', '.join(labels(cells[:3]))}")

    def spread(self, j: int, maximize: bool) -> None:
        """Cell ``j``'s optimum is its relation group's: in ``j``'s direction for the members that
        move with ``j``, in the other one for those that move against it."""
        out, done = self._side(maximize)
        other, other_done = self._side(not maximize)
        g = self.group[j]
        mem = self.by_group[self.cuts[g]:self.cuts[g + 1]]
        const, scale = self.const, self.scale
        with np.errstate(invalid="ignore"):
            val = const[mem] + scale[mem] * ((out[j] - const[j]) / scale[j])
        same = np.sign(scale[mem]) == np.sign(scale[j])
        _take(mem[same], val[same], out, done)
        _take(mem[~same], val[~same], other, other_done)

    def learn(self, sol, ok: bool) -> None:
        """The range that tables found reach (if ``sol.x`` is one) and the bounds its duals prove."""
        if ok:
            np.minimum(self.seen_lo, sol.x, out=self.seen_lo)
            np.maximum(self.seen_hi, sol.x, out=self.seen_hi)
        if sol.row_duals is not None:
            # HiGHS's reduced costs are c - A^T y: the row duals y are the multipliers (a wrong
            # sign would only give useless bounds, never wrong ones)
            g = self.A.T @ sol.row_duals
            ut = float(sol.row_duals @ self.t)
            np.minimum(self.dual_hi, _lagrangian(g, ut, self.lb, self.ub, True), out=self.dual_hi)
            np.maximum(self.dual_lo, _lagrangian(g, ut, self.lb, self.ub, False), out=self.dual_lo)

    def result(self) -> tuple[np.ndarray, np.ndarray, int]:
        """``(lo, hi, solves)``; an integer attacker's bounds rounded inwards."""
        lo, hi = self.lo, self.hi
        if self.integer:
            lo, hi = np.ceil(lo - TOL) + 0.0, np.floor(hi + TOL) + 0.0
        return lo, hi, self.solves


def _interval_model(A, t, lb, ub, integer: bool) -> HighsModel:
    """The block's model with a zero objective, its options set for a run of re-solves."""
    k = A.shape[1]
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
    return model


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
    k = A.shape[1]
    group = np.full(k, -1)
    const = np.zeros(k)
    scale = np.ones(k)
    basis = _Basis.of_first_lp(A, t, lb, ub)
    if basis is None:
        return group, const, scale
    fixed = lb >= ub
    P = _null_space_projection(A, basis, fixed, seed)
    cand = _candidate_groups(P, fixed)
    if cand is None:
        return group, const, scale
    cell, anchor, ratio = cand
    proven, wt = _prove_relations(A, t, basis, cell, anchor, ratio)
    pz = proven & (anchor < 0)
    group[cell[pz]] = _PINNED
    const[cell[pz]] = wt[pz]
    group[fixed] = _PINNED
    const[fixed] = lb[fixed]
    pr = proven & (anchor >= 0)
    members = cell[pr]
    anchors = anchor[pr]
    ids = np.unique(anchors)
    group[ids] = np.arange(ids.size)
    group[members] = np.searchsorted(ids, anchors)
    const[members] = wt[pr]
    scale[members] = ratio[pr]
    return group, const, scale


@dataclass
class _Basis:
    """A basis of ``A y = t`` and the LU factors of its matrix.

    ``basic[p]`` is the column at basis position ``p``, or ``-1 - r`` for row ``r``'s slack;
    ``pos[i]`` is column ``i``'s basis position, ``-1`` when it is not basic.
    """

    basic: np.ndarray
    pos: np.ndarray
    lu: object  # scipy.sparse.linalg.SuperLU

    @classmethod
    def of_first_lp(cls, A, t, lb, ub) -> _Basis | None:
        """The optimal basis of a zero-objective LP over the block; ``None`` when there is none
        (the solves proper report why) or it cannot be factorised."""
        import scipy.sparse.linalg as spla

        m, k = A.shape
        try:
            model = HighsModel(LinearProgram(c=np.zeros(k), A=A, row_lo=t, row_hi=t, col_lo=lb, col_hi=ub))
            if model.solve().status != "optimal":
                return None
            basic = model.basis()
        except Exception:  # noqa: BLE001 - a shortcut only: without it every cell is solved
            return None
        if basic.size != m:
            return None
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
            return None
        return cls(basic, pos, lu)


def _null_space_projection(A, basis: _Basis, fixed: np.ndarray, seed: int) -> np.ndarray:
    """Three random directions of the null space of ``A`` (columns of a ``k x 3`` array), the
    free non-basic cells drawn at random and the basic ones solved for; fixed cells stay 0."""
    k = A.shape[1]
    free = (basis.pos < 0) & ~fixed
    R = np.random.default_rng(seed).standard_normal((int(free.sum()), 3))
    P = np.zeros((k, 3))
    P[free] = R
    basic_cols = basis.basic[basis.basic >= 0]
    P[basic_cols] = -basis.lu.solve(np.asarray(A[:, free] @ R))[basis.pos[basic_cols]]
    return P


def _candidate_groups(P: np.ndarray, fixed: np.ndarray):
    """Candidate relations from the projections ``P``: ``(cell, anchor, ratio)``, one entry per
    candidate, ``anchor -1`` for a cell that looks constant (its projections are all 0), else
    ``y_cell = const + ratio * y_anchor`` (their projections are proportional; the lowest cell of
    a set of proportional ones is the anchor). ``None`` when the projections overflowed."""
    k = P.shape[0]
    size = np.abs(P).max(initial=0.0)
    if not np.isfinite(size):
        return None
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
    n_zero = int(zero.sum())
    return (np.concatenate([np.flatnonzero(zero), live]),
            np.concatenate([np.full(n_zero, -1), anchor]),
            np.concatenate([np.zeros(n_zero), ratio]))


def _prove_relations(A, t, basis: _Basis, cell, anchor, ratio) -> tuple[np.ndarray, np.ndarray]:
    """Which candidates hold on every table, and each one's constant ``w . t``.

    ``w`` solves ``B^T w = b`` with ``b`` the basic part of the relation ``e_cell - ratio
    e_anchor``; the relation holds when ``A^T w`` is the whole of it. Done in batches that keep
    the dense right-hand sides near a million entries.
    """
    m, k = A.shape
    proven = np.zeros(cell.size, dtype=bool)
    wt = np.zeros(cell.size)
    batch = max(1, int(1e6 // max(m, 1)))
    AT = sp.csr_matrix(A.T)
    pos = basis.pos
    bc = np.flatnonzero(pos >= 0)
    for s0 in range(0, cell.size, batch):
        i, a, r = cell[s0:s0 + batch], anchor[s0:s0 + batch], ratio[s0:s0 + batch]
        n = i.size
        col = np.arange(n)
        rel = sp.csr_matrix((np.ones(n), (i, col)), shape=(k, n))
        has_a = a >= 0
        rel = rel - sp.csr_matrix((r[has_a], (a[has_a], col[has_a])), shape=(k, n))
        rel = rel.toarray()
        b = np.zeros((m, n))
        b[pos[bc]] = rel[bc]
        W = basis.lu.solve(b, trans="T")
        resid = np.abs(AT @ W - rel).max(axis=0)
        proven[s0:s0 + batch] = resid <= _EXACT * np.maximum(1, np.abs(r))
        wt[s0:s0 + batch] = t @ W
    return proven, wt


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
