"""The audit: what an attacker can derive about every hidden cell.

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .certify import certify_levels
from .linear import LinearTable, block_members, hidden_blocks, known_sum_rows
from .rules import Requirement, requirement
from .solvers import HighsModel, LinearProgram

TOL = 1e-6


class AuditError(ValueError):
    """The pattern or the published values cannot be audited."""


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


@dataclass
class AuditReport:
    """Result of :func:`audit`.

    ``frame`` has one row per hidden cell (and per published sensitive cell):
    the cell's codes, ``value``, ``lo``, ``hi``, ``sensitive``, ``protected``
    and ``reason``. ``ok`` is True only when every sensitive cell is verified
    protected, no published cell is sensitive, no multi-cell disclosure
    exists (presets ``strict`` and ``policy``) and no verdict depends on an
    unknown value.
    """

    frame: pd.DataFrame
    ok: bool
    multi_cell: pd.DataFrame
    preset: str
    threshold: float
    integer: bool
    lo: np.ndarray = field(repr=False)
    hi: np.ndarray = field(repr=False)
    stats: dict = field(default_factory=dict)

    @property
    def n_hidden(self) -> int:
        return int(self.stats.get("hidden", 0))

    @property
    def unprotected(self) -> pd.DataFrame:
        return self.frame[self.frame["protected"].eq(False)]

    @property
    def undetermined(self) -> pd.DataFrame:
        return self.frame[self.frame["protected"].isna()]

    def summary(self) -> str:
        f = self.frame
        lines = [
            f"audit ({self.preset}, threshold {self.threshold:g}, {'integer' if self.integer else 'LP'} attacker): "
            f"{'SAFE' if self.ok else 'NOT SAFE'}",
            f"  hidden cells: {self.n_hidden} in {self.stats.get('blocks', 0)} block(s); "
            f"sensitive: {int(f['sensitive'].eq(True).sum())}"
            + (f", possibly sensitive: {int(f['sensitive'].isna().sum())}" if f['sensitive'].isna().any() else ""),
            f"  unprotected: {len(self.unprotected)}; undetermined (depends on an unknown value): "
            f"{len(self.undetermined)}; multi-cell disclosures: {len(self.multi_cell)}",
        ]
        worst = pd.concat([self.unprotected, self.undetermined]).head(10)
        if len(worst):
            lines.append("  worst cells:")
            for _, r in worst.iterrows():
                lines.append(f"    {_describe(r)}")
        if len(self.multi_cell):
            lines.append("  multi-cell disclosures:")
            for _, r in self.multi_cell.head(5).iterrows():
                lines.append(f"    {r['equation']}: hidden {r['cells']} sum to {r['sum']:g}")
        lines.append(f"  {self.stats.get('solves', 0)} solves in {self.stats.get('seconds', 0):.2f} s")
        return "\n".join(lines)


def _describe(r) -> str:
    codes = ", ".join(f"{k}={v}" for k, v in r.items()
                      if k not in ("value", "lo", "hi", "hidden", "sensitive", "protected", "reason", "cell"))
    name = codes or f"cell {r.get('cell')}"
    val = "?" if pd.isna(r["value"]) else f"{r['value']:g}"
    return f"({name}) value {val}: [{r['lo']:g}, {r['hi']:g}] {r['reason']}"


def resolve_hidden(table: LinearTable, hidden) -> np.ndarray:
    """Hidden cells as a boolean array from any accepted form."""
    n = table.n_cells
    if hidden is None:
        if table.hidden is None:
            raise AuditError("no hidden cells given: pass hidden=... or a published table with markers")
        return table.hidden.copy()
    if isinstance(hidden, str):
        frame = table.frame
        if hidden not in frame.columns:
            raise AuditError(f"hidden column {hidden!r} not in the table; it has {list(frame.columns)}")
        col = frame[hidden]
        return _as_bool(col.fillna(False), hidden)
    if isinstance(hidden, pd.DataFrame):
        dims = getattr(table, "dims", None)
        if dims is None:
            raise AuditError("a DataFrame of codes needs a table with dimensions")
        out = np.zeros(n, dtype=bool)
        out[table.cell_index(hidden)] = True
        return out
    arr = np.asarray(hidden)
    if arr.dtype != bool:
        if arr.ndim == 1 and arr.size and np.issubdtype(arr.dtype, np.integer) and arr.size != n:
            out = np.zeros(n, dtype=bool)
            if arr.min() < 0 or arr.max() >= n:
                raise AuditError(f"hidden cell index out of range 0..{n - 1}")
            out[arr] = True
            return out
        arr = _as_bool(pd.Series(arr), "hidden")
    if arr.shape != (n,):
        raise AuditError(f"hidden has {arr.size} entries but the table has {n} cells")
    return arr.astype(bool)


def _as_bool(col: pd.Series, name: str) -> np.ndarray:
    if col.dtype == bool:
        return col.to_numpy()
    vals = set(pd.unique(col.astype(str).str.lower()))
    if vals <= {"true", "false", "1", "0", "1.0", "0.0"}:
        return col.astype(str).str.lower().isin(["true", "1", "1.0"]).to_numpy()
    raise AuditError(f"{name} must be boolean; found values {sorted(vals)[:5]}")


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
        raise AuditError(f"published cells without a value: {table.cell_labels(bad[:5])}")
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
                    f"{table.cell_labels(cells[:5])}{' ...' if k > 5 else ''}")
            else:
                raise AuditError(f"the solver failed ({sol.status}) on the block of {table.cell_labels(cells[:3])}")
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
        basic = np.asarray(model.h.getBasicVariables()[1], dtype=np.int64)
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


def multi_cell_disclosures(table: LinearTable, hidden: np.ndarray, target: np.ndarray,
                           threshold: float, sensitive: np.ndarray | None = None) -> pd.DataFrame:
    """Equations whose hidden cells (two or more, all on one side) have a known sum in ``1..threshold``.

    ``risk`` says whether a cell of the sum is sensitive or of unknown value: a known sum of
    non-sensitive cells only (possible with user-given sensitivity) is listed but not a failure.
    """
    Mh = sp.csr_matrix(table.M[:, hidden])
    idx = np.flatnonzero(hidden)
    sens = np.asarray(sensitive if sensitive is not None else np.zeros(table.n_cells, bool))
    risky = (sens | np.isnan(table.values))[hidden].astype(float)
    rows = known_sum_rows(Mh, target, threshold, TOL)
    s = np.abs(target)
    risk = np.asarray(abs(Mh) @ risky).ravel() > 0
    recs = []
    for r in rows:  # only the flagged equations, usually none
        cols = idx[Mh.indices[Mh.indptr[r]:Mh.indptr[r + 1]]]
        recs.append({"equation": table.equation_label(r), "row": int(r),
                     "cells": "; ".join(table.cell_labels(cols)), "sum": float(s[r]),
                     "risk": bool(risk[r])})
    return pd.DataFrame(recs, columns=["equation", "row", "cells", "sum", "risk"])


def audit(table: LinearTable, hidden=None, preset: str = "strict", threshold: float = 20,
          integer: bool = False, hidden_nonzero: bool = False, sensitive=None,
          lpl=None, upl=None, spl=None, progress: bool = False, sensitive_only: bool = False,
          certify: bool = False) -> AuditReport:
    """Audit a suppression pattern.

    ``sensitive_only`` computes the intervals of the sensitive hidden cells alone (the others'
    ``lo``/``hi`` are NaN): the verdict is the same, and large blocks take far fewer solves.

    ``certify`` (with ``sensitive_only``, LP attacker, known values) first looks for attacker
    moves that protect many sensitive cells at once (:mod:`cellsuppress.certify`); a cell whose
    requirement such a verified move meets needs no interval LP, and its ``lo``/``hi`` are then the
    values that the verified tables reach (its true interval contains ``[lo, hi]``; ``stats``
    counts these cells as ``certified``). Every other sensitive cell gets its exact interval, so
    the verdict is the same.

    ``hidden``: a boolean array aligned to ``table.frame``, a boolean column
    of ``table.frame``, a DataFrame of codes of hidden cells, or ``None`` for
    a published table whose markers say which cells are hidden.

    >>> import pandas as pd, cellsuppress as cs
    >>> from cellsuppress.audit import audit
    >>> df = pd.DataFrame({"r": ["a", "a", "b", "b"], "c": ["x", "y"] * 2, "n": [3, 40, 25, 30]})
    >>> t = cs.Table.from_frame(df, dims=["r", "c"], count="n")
    >>> rep = audit(t, hidden=(t.frame.r == "a") & (t.frame.c == "x"))
    >>> rep.ok, rep.frame["reason"].iloc[0]
    (False, 'exactly disclosed')
    """
    hidden = resolve_hidden(table, hidden)
    if hidden_nonzero and (hidden & (table.values == 0)).any():
        zero = np.flatnonzero(hidden & (table.values == 0))
        raise AuditError(f"hidden_nonzero=True, but hidden cell(s) {table.cell_labels(zero[:5])} are 0; "
                         "the attacker's bound of 1 would be wrong")
    req = requirement(table, preset, threshold, sensitive=sensitive, hidden_nonzero=hidden_nonzero,
                      lpl=lpl, upl=upl, spl=spl)
    only = None
    done = None
    if sensitive_only:
        only = req.sensitive | np.isnan(table.values)  # a cell of unknown value may be sensitive
        if certify and not integer and not np.isnan(table.values[hidden]).any():
            t0 = time.perf_counter()
            done, clo, chi, n_lps = certified_cells(table, hidden, req)
            only = only & ~done
            t_cert = time.perf_counter() - t0
    iv = feasibility_intervals(table, hidden, req.attacker_lb, integer=integer, progress=progress, only=only)
    if done is not None:
        iv.lo[done], iv.hi[done] = clo[done], chi[done]
        iv.n_solves += n_lps
        iv.seconds += t_cert
    report = build_report(table, hidden, req, iv, integer)
    if done is not None:
        report.stats["certified"] = int(done.sum())
    return report


def certified_cells(table: LinearTable, hidden: np.ndarray, req: Requirement):
    """Sensitive hidden cells whose requirement verified attacker moves meet (LP attacker).

    Returns ``(done, lo, hi, lps)``: ``lo``/``hi`` are the least and greatest values the verified
    tables give each cell, so its interval contains ``[lo, hi]``; ``done`` is where the audit's
    own rule (:meth:`Requirement.satisfied`) accepts ``[lo, hi]``. Needs every hidden value.
    """
    a = table.values
    lb = np.where(hidden, req.attacker_lb, table.lb)
    cap_up = table.ub - a
    cap_dn = a - lb
    want = hidden & req.sensitive
    with np.errstate(invalid="ignore"):
        up = np.where(want, req.need_hi - a, 0.0)
        dn = np.where(want, a - req.need_lo, 0.0)
    spl = np.where(want, req.spl, 0.0)  # policy: need_lo 0 and need_hi T+1, either side will do
    cert, held = certify_levels(table.M, hidden, cap_up, cap_dn, np.nan_to_num(up, neginf=0.0),
                                np.nan_to_num(dn, neginf=0.0), spl, either=req.disjunctive,
                                focus=2 * int(want.sum()))
    lo, hi = a - cert.gain_dn, a + cert.gain_up
    done = want & held & req.satisfied(lo, hi)
    return done, lo, hi, cert.lps


def build_report(table: LinearTable, hidden: np.ndarray, req: Requirement, iv: Intervals,
                 integer: bool) -> AuditReport:
    """Verdicts per cell from the intervals."""
    T = req.threshold
    lo, hi = iv.lo, iv.hi
    value = table.values
    known = ~np.isnan(value)
    everyone = Requirement(req.preset, T, np.ones_like(req.sensitive), req.need_lo, req.need_hi, req.spl,
                           req.attacker_lb)
    meets = everyone.satisfied(lo, hi)
    rows = np.flatnonzero(hidden | (req.sensitive & ~hidden))
    n = rows.size
    sens = pd.array([pd.NA] * n, dtype="boolean")
    prot = pd.array([pd.NA] * n, dtype="boolean")
    reason = np.empty(n, dtype=object)
    h = hidden[rows]
    k = known[rows]
    s = req.sensitive[rows]
    m = meets[rows]
    l, u = lo[rows], hi[rows]
    exact = (u - l) <= TOL
    # known values
    sens[k] = s[k]
    pub_sens = ~h & s
    prot[pub_sens] = False
    reason[pub_sens] = "published"
    hk = h & k
    prot[hk & ~s] = True
    reason[hk & ~s] = "not sensitive"
    hs = hk & s
    prot[hs] = m[hs]
    reason[hs & m] = "protected"
    fail = hs & ~m
    reason[fail] = _why(l[fail], u[fail], req, rows[fail])
    # unknown values (published tables)
    hu = h & ~k
    possible = (u >= 1 - TOL) & (l <= T + TOL)
    certain = (l >= 1 - TOL) & (u <= T + TOL)
    a = hu & m
    prot[a] = True
    reason[a] = "protected whatever its value"
    b = hu & ~m & ~possible
    sens[b] = False
    prot[b] = True
    reason[b] = f"not sensitive: cannot lie in 1..{T:g}"
    c = hu & ~m & possible & certain
    sens[c] = True
    prot[c] = False
    reason[c] = _why(l[c], u[c], req, rows[c])
    d = hu & ~m & possible & ~certain
    reason[d] = "undetermined: the verdict depends on the hidden value"
    sens[hu & m & exact] = (l[hu & m & exact] >= 1 - TOL) & (l[hu & m & exact] <= T + TOL)
    if getattr(table, "labels", None) is not None:
        frame = table.labels.iloc[rows].astype(str).reset_index(drop=True)
    else:
        frame = pd.DataFrame({"cell": rows})
    frame["value"] = value[rows]
    frame["lo"] = l
    frame["hi"] = u
    frame["hidden"] = h
    frame["sensitive"] = sens
    frame["protected"] = prot
    frame["reason"] = reason
    frame.index = rows
    mc = multi_cell_disclosures(table, hidden, iv.row_target, T, req.sensitive)
    mc_fail = req.preset in ("strict", "policy") and bool(mc["risk"].any())
    ok = bool(frame["protected"].fillna(False).all() and not mc_fail)
    stats = {"hidden": int(hidden.sum()), "blocks": iv.n_blocks, "solves": iv.n_solves, "seconds": iv.seconds}
    return AuditReport(frame=frame, ok=ok, multi_cell=mc, preset=req.preset, threshold=T,
                       integer=integer, lo=lo, hi=hi, stats=stats)


def _why(l, u, req: Requirement, cells) -> np.ndarray:
    out = np.empty(l.size, dtype=object)
    T = req.threshold
    for i in range(l.size):  # only the failing cells
        if u[i] - l[i] <= TOL:
            out[i] = "exactly disclosed"
        elif req.preset == "policy" or (l[i] >= 1 - TOL and u[i] <= T + TOL):
            out[i] = f"interval inside 1..{T:g}"
        elif req.preset == "exact":
            out[i] = "exactly disclosed"
        else:
            parts = []
            if u[i] < req.need_hi[cells[i]] - TOL:
                parts.append(f"upper bound below {req.need_hi[cells[i]]:g}")
            if l[i] > req.need_lo[cells[i]] + TOL:
                parts.append(f"lower bound above {req.need_lo[cells[i]]:g}")
            if u[i] - l[i] < req.spl[cells[i]] - TOL:
                parts.append(f"interval narrower than {req.spl[cells[i]]:g}")
            out[i] = "; ".join(parts) or "unprotected"
    return out
