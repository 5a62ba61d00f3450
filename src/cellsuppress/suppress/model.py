"""Solver-neutral pieces of the suppression MILP (docs/design.md).

Everything here is arrays and scipy.sparse: capacity cuts built from attacker
duals, the cheap cuts each single equation gives, the master program, and the
compact model used as a cross-check on small tables.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import RuleError

from ..solvers import LinearProgram
from .problem import Problem


@dataclass(frozen=True)
class CutRow:
    """The coefficients of a cut over a problem's ``n`` cells, held as its nonzeros: ``vals``
    at the cells ``cols`` (ascending). A cut touches the cells of a few equations, and a large
    table's separation finds thousands of cuts: as dense rows they would take cells x cuts.

    >>> r = CutRow.of([3, 0], [2.0, 1.0], 5)
    >>> r @ np.array([1., 1., 0., 1., 0.]), r.toarray().tolist()
    (3.0, [1.0, 0.0, 0.0, 2.0, 0.0])
    >>> cut_matrix([r, CutRow.of([4], [5.0], 5)]).toarray().tolist()
    [[1.0, 0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0, 5.0]]
    """

    cols: np.ndarray
    vals: np.ndarray
    n: int

    @classmethod
    def of(cls, cols, vals, n: int) -> "CutRow":
        """The row with ``vals`` at ``cols`` (distinct cells, any order); zeros are dropped."""
        cols = np.asarray(cols, dtype=np.int64)
        vals = np.asarray(vals, dtype=float)
        keep = vals != 0
        cols, vals = cols[keep], vals[keep]
        if cols.size > 1 and np.any(cols[1:] < cols[:-1]):
            order = np.argsort(cols, kind="stable")
            cols, vals = cols[order], vals[order]
        return cls(cols, vals, int(n))

    def __matmul__(self, x) -> float:
        """``coef @ x`` for a vector ``x`` over the cells."""
        return float(self.vals @ np.asarray(x, dtype=float)[self.cols])

    def toarray(self) -> np.ndarray:
        out = np.zeros(self.n)
        out[self.cols] = self.vals
        return out

    def plus(self, other: "CutRow") -> "CutRow":
        cols = np.union1d(self.cols, other.cols)
        vals = np.zeros(cols.size)
        vals[np.searchsorted(cols, self.cols)] += self.vals
        vals[np.searchsorted(cols, other.cols)] += other.vals
        return CutRow.of(cols, vals, self.n)

    def capped(self, level: float) -> "CutRow":
        return CutRow.of(self.cols, np.minimum(self.vals, level), self.n)

    def without_below(self, tol: float) -> "CutRow":
        """The row without its coefficients of magnitude below ``tol``."""
        keep = np.abs(self.vals) >= tol
        return CutRow(self.cols[keep], self.vals[keep], self.n)

    def embedded(self, cells: np.ndarray, n: int) -> "CutRow":
        """This row of a problem restricted to ``cells`` (ascending) as a row of the whole one."""
        return CutRow(np.asarray(cells, dtype=np.int64)[self.cols], self.vals, int(n))


def cut_matrix(rows: list[CutRow], n: int | None = None) -> sp.csr_matrix:
    """The rows stacked into a sparse matrix (``n`` columns: the rows' own, if any)."""
    if n is None:
        n = rows[0].n if rows else 0
    indptr = np.concatenate([[0], np.cumsum([r.cols.size for r in rows], dtype=np.int64)])
    if not rows:
        return sp.csr_matrix((0, n))
    return sp.csr_matrix((np.concatenate([r.vals for r in rows]), np.concatenate([r.cols for r in rows]), indptr),
                         shape=(len(rows), n))


def capacity_cut(cells: np.ndarray, d: np.ndarray, cap_up: np.ndarray, cap_dn: np.ndarray, level: float,
                 n: int) -> CutRow:
    """The capacity cut ``sum_i c_i x_i >= level`` from reduced costs ``d`` on ``cells``
    (zero on the other cells of the ``n``; ``cap_up``, ``cap_dn`` over all of them).

    ``d = objective - M^T pi`` for any row multipliers ``pi`` of the attacker
    LP; weak duality bounds the attacker's gain by ``sum_i (d_i^+ cap_up_i +
    d_i^- cap_dn_i) x_i``. Coefficients are capped at ``level`` (valid for
    binary x), which also makes infinite capacities finite.
    """
    cu, cd = cap_up[cells], cap_dn[cells]
    with np.errstate(invalid="ignore"):
        c = np.where(d > 0, d * cu, 0.0) + np.where(d < 0, -d * cd, 0.0)
    c = np.nan_to_num(c, nan=0.0, posinf=level)
    return CutRow.of(cells, np.minimum(c, level), n)


def attacker_bound(d: np.ndarray, cap_up: np.ndarray, cap_dn: np.ndarray, x: np.ndarray) -> float:
    """The weak-duality bound on the attacker's gain at pattern ``x`` (uncapped)."""
    with np.errstate(invalid="ignore"):
        c = np.where(d > 0, d * cap_up, 0.0) + np.where(d < 0, -d * cap_dn, 0.0)
    with np.errstate(invalid="ignore"):
        c = np.where(x > 0, c * x, 0.0)
    return float(np.nan_to_num(c, nan=0.0, posinf=np.inf).sum())


def single_equation_cuts(p: Problem, drop_forced: bool = False) -> tuple[sp.csr_matrix, np.ndarray,
                                                                          tuple[np.ndarray, np.ndarray]]:
    """Cuts each equation gives before any LP is solved.

    When sensitive cell ``k`` moves by its protection level ``L`` in one
    direction, every equation holding ``k`` must be balanced by its other
    hidden cells, each within its capacity in the compensating direction:
    ``sum_{j != k} min(cap_j, L) x_j >= L``. Returns ``(A, rhs, (cell, direction))``
    over all cells, with the sensitive cell and direction (+1 up, -1 down) of each row.
    ``drop_forced`` leaves out the rows that the cells forced hidden meet alone (in a table
    with many sensitive cells, most of them: they only make the master big).
    """
    M = sp.csr_matrix(p.M)
    sens = np.flatnonzero(p.sensitive)
    rows_out, rhs_out, ks, dirs = [], [], [], []
    for level, direction in ((p.up, 1.0), (p.dn, -1.0)):
        need = sens[level[sens] > 0]
        if need.size == 0:
            continue
        Mk = sp.coo_matrix(M[:, need])
        r, kk, sign_k = Mk.row, need[Mk.col], Mk.data
        L = level[kk]
        R = sp.csr_matrix(M[r])  # one row per (equation, sensitive cell) pair
        lens = np.diff(R.indptr)
        pair = np.repeat(np.arange(r.size), lens)
        cols = R.indices
        # moving k by +direction forces the rest of the row to move by -direction*sign_k
        same = np.sign(R.data) == np.sign(sign_k[pair])
        moves_up = (direction > 0) != same  # the compensating move of cell j is upward
        cap = np.where(moves_up, p.cap_up[cols], p.cap_dn[cols])
        coef = np.minimum(np.nan_to_num(cap, posinf=np.inf), L[pair])
        coef[cols == kk[pair]] = 0.0
        keep = np.ones(r.size, dtype=bool)
        if drop_forced:
            forced = np.bincount(pair, weights=coef * p.force_hidden[cols], minlength=r.size)
            keep = forced < L - 1e-9 * np.maximum(1.0, L)
            kept = keep[pair]
            pair, cols, coef = np.cumsum(keep)[pair[kept]] - 1, cols[kept], coef[kept]
        A = sp.csr_matrix((coef, (pair, cols)), shape=(int(keep.sum()), p.n))
        A.eliminate_zeros()
        rows_out.append(A)
        rhs_out.append(L[keep])
        ks.append(kk[keep])
        dirs.append(np.full(int(keep.sum()), int(direction)))
    if not rows_out:
        return sp.csr_matrix((0, p.n)), np.zeros(0), (np.zeros(0, np.int64), np.zeros(0, np.int64))
    return (sp.vstack(rows_out, format="csr"), np.concatenate(rhs_out),
            (np.concatenate(ks), np.concatenate(dirs)))


def master_program(p: Problem) -> LinearProgram:
    """The master MILP before cuts: binary x, forced cells fixed, the single-equation cuts."""
    lo = np.where(p.force_hidden, 1.0, 0.0)
    hi = np.where(p.blocked, 0.0, 1.0)
    A, rhs, sides = single_equation_cuts(p, drop_forced=True)
    n_extra = int(p.sensitive.sum()) if p.either_side else 0  # the side chosen per sensitive cell
    c = np.concatenate([p.weight, np.zeros(n_extra)])
    if n_extra:
        A = sp.hstack([A, sp.csr_matrix((A.shape[0], n_extra))], format="csr")
        # single-equation cuts are per direction: scale them by the side chosen
        A, rhs = side_rows(A, rhs, p, sides)
    col_lo = np.concatenate([lo, np.zeros(n_extra)])
    col_hi = np.concatenate([hi, np.ones(n_extra)])
    if n_extra:
        sens = np.flatnonzero(p.sensitive)
        col_lo[p.n:] = np.where(p.dn[sens] > p.cap_dn[sens], 1.0, 0.0)  # cannot go down: must go up
        col_hi[p.n:] = np.where(p.up[sens] > p.cap_up[sens], 0.0, 1.0)
    return LinearProgram(c=c, A=A, row_lo=rhs, row_hi=np.full(rhs.size, np.inf),
                         col_lo=col_lo, col_hi=col_hi, integer=np.ones(c.size, dtype=bool), feasible_at_upper=True)


def side_rows(A: sp.csr_matrix, rhs: np.ndarray, p: Problem, sides) -> tuple[sp.csr_matrix, np.ndarray]:
    """Make cuts conditional on the side variable ``b_k`` of an either-side preset (1: upward).

    Upward cut ``c x >= L`` becomes ``c x - L b_k >= 0``; downward
    ``c x >= L`` becomes ``c x + L b_k >= L``.
    """
    k, direction = sides
    if rhs.size == 0:
        return A, rhs
    pos = np.searchsorted(np.flatnonzero(p.sensitive), k)
    coef = np.where(direction > 0, -rhs, rhs)
    B = sp.csr_matrix((coef, (np.arange(rhs.size), p.n + pos)), shape=A.shape)
    new_rhs = np.where(direction > 0, 0.0, rhs)
    return sp.csr_matrix(A + B), new_rhs


def compact_program(p: Problem, big: float | None = None) -> tuple[LinearProgram, int]:
    """The compact MILP: one deviation vector per sensitive cell and direction.

    Variables are ``x`` (n binaries) then, per requirement, ``z`` in R^n with
    ``M z = 0`` and ``-cap_dn x <= z <= cap_up x``. Infinite capacities are
    replaced by ``big`` (default: 100 times the largest level, plenty for
    small tables). For tests and small tables only; every level must hold on its
    own (no either-side preset such as ``policy``, no rule on equation sums).
    Returns the program and the number of requirement blocks.
    """
    if p.either_side or p.equation_sum_rule:
        raise RuleError("the compact model needs every level on its own; it does not support "
                         "either-side presets such as policy")
    n = p.n
    M = sp.csr_matrix(p.M)
    lv = np.concatenate([p.up, p.dn, p.spl])
    big = big if big is not None else 100.0 * max(1.0, float(lv.max()) if lv.size else 1.0)
    cu = np.minimum(p.cap_up, big)
    cd = np.minimum(p.cap_dn, big)
    reqs = []  # (cell, kind, level)
    for k in np.flatnonzero(p.sensitive):
        if p.up[k] > 0:
            reqs.append((k, "up", p.up[k]))
        if p.dn[k] > 0:
            reqs.append((k, "dn", p.dn[k]))
        if p.spl[k] > 0:
            reqs.append((k, "spl", p.spl[k]))
    blocks = sum(2 if kind == "spl" else 1 for _, kind, _ in reqs)
    nv = n + blocks * n
    rows, rlo, rhi = [], [], []
    Ix = sp.identity(n, format="csr")
    col_lo = np.concatenate([np.where(p.force_hidden, 1.0, 0.0), np.full(blocks * n, -np.inf)])
    col_hi = np.concatenate([np.where(p.blocked, 0.0, 1.0), np.full(blocks * n, np.inf)])

    def zblock(b, mat):
        left = sp.csr_matrix((mat.shape[0], n + b * n))
        right = sp.csr_matrix((mat.shape[0], (blocks - b - 1) * n))
        return sp.hstack([left, mat, right], format="csr")

    b = 0
    for k, kind, level in reqs:
        zs = [b] if kind != "spl" else [b, b + 1]
        for zb in zs:
            rows.append(zblock(zb, M))
            rlo.append(np.zeros(M.shape[0]))
            rhi.append(np.zeros(M.shape[0]))
            # z_i - cu_i x_i <= 0 ;  z_i + cd_i x_i >= 0
            rows.append(sp.hstack([-sp.diags(cu), sp.csr_matrix((n, zb * n)), Ix,
                                   sp.csr_matrix((n, (blocks - zb - 1) * n))], format="csr"))
            rlo.append(np.full(n, -np.inf))
            rhi.append(np.zeros(n))
            rows.append(sp.hstack([sp.diags(cd), sp.csr_matrix((n, zb * n)), Ix,
                                   sp.csr_matrix((n, (blocks - zb - 1) * n))], format="csr"))
            rlo.append(np.zeros(n))
            rhi.append(np.full(n, np.inf))
        e = np.zeros(n)
        e[k] = 1.0
        if kind == "up":
            rows.append(zblock(b, sp.csr_matrix(e)))
            rlo.append([level]), rhi.append([np.inf])
        elif kind == "dn":
            rows.append(zblock(b, sp.csr_matrix(e)))
            rlo.append([-np.inf]), rhi.append([-level])
        else:
            rows.append(zblock(b, sp.csr_matrix(e)) - zblock(b + 1, sp.csr_matrix(e)))
            rlo.append([level]), rhi.append([np.inf])
        b += len(zs)
    A = sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, nv))
    integer = np.concatenate([np.ones(n, bool), np.zeros(blocks * n, bool)])
    c = np.concatenate([p.weight, np.zeros(blocks * n)])
    lp = LinearProgram(c=c, A=A, row_lo=np.concatenate([np.asarray(r, float) for r in rlo]) if rows else [],
                       row_hi=np.concatenate([np.asarray(r, float) for r in rhi]) if rows else [],
                       col_lo=col_lo, col_hi=col_hi, integer=integer)
    return lp, blocks
