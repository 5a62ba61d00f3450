"""The audit: what an attacker can derive about every hidden cell.

For a suppression pattern the feasibility interval of a hidden cell ``k`` is
``[min y_k, max y_k]`` over all tables ``y`` that satisfy the equations, agree
with every published value and respect the a-priori bounds. Each connected
block of hidden cells is one LP (or MILP with ``integer=True``); only the
objective changes between its solves, so HiGHS warm starts.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .linear import LinearTable, hidden_blocks
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
                          integer: bool = False, progress: bool = False) -> Intervals:
    """Attacker's interval of every hidden cell (published cells get ``lo = hi = value``).

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
    cell_order = np.argsort(bcell, kind="stable")
    cell_order = cell_order[bcell[cell_order] >= 0]
    cell_cuts = np.searchsorted(bcell[cell_order], np.arange(nb + 1))
    row_order = np.argsort(brow, kind="stable")
    row_order = row_order[brow[row_order] >= 0]
    row_cuts = np.searchsorted(brow[row_order], np.arange(nb + 1))
    solves = 0
    last_report = time.perf_counter()
    for b in range(nb):
        cells = cell_order[cell_cuts[b]:cell_cuts[b + 1]]
        rows = row_order[row_cuts[b]:row_cuts[b + 1]]
        A = M[rows][:, cells]
        blo, bhi = _block_intervals(A, target[rows], lb[cells], ub[cells], integer, table, cells)
        lo[cells], hi[cells] = blo, bhi
        solves += 2 * cells.size if cells.size > 1 else 0
        if progress and time.perf_counter() - last_report > 2:
            last_report = time.perf_counter()
            print(f"audit: block {b + 1}/{nb}, {solves} solves, {last_report - t0:.1f} s", file=sys.stderr)
    return Intervals(lo, hi, nb, solves, time.perf_counter() - t0, bcell, target)


def _block_intervals(A, t, lb, ub, integer, table, cells):
    k = A.shape[1]
    if k == 1:
        # a lone hidden cell: any equation it is in pins it
        coef = A.toarray().ravel()
        nz = np.flatnonzero(coef)
        if nz.size == 0:
            return lb.copy(), ub.copy()
        vals = t[nz] / coef[nz]
        v = vals[0]
        if np.abs(vals - v).max() > TOL * max(1, abs(v)) or v < lb[0] - TOL or v > ub[0] + TOL:
            raise AuditError(f"published values contradict each other around hidden {table.cell_labels(cells)[0]}")
        return np.array([v]), np.array([v])
    lp = LinearProgram(c=np.zeros(k), A=A, row_lo=t, row_hi=t, col_lo=lb, col_hi=ub,
                       integer=np.full(k, bool(integer)))
    model = HighsModel(lp)
    lo = np.empty(k)
    hi = np.empty(k)
    c = np.zeros(k)
    for j in range(k):
        c[j] = 1.0
        for maximize, out in ((False, lo), (True, hi)):
            model.set_objective(c, maximize=maximize)
            sol = model.solve()
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
        c[j] = 0.0
    if integer:
        lo, hi = np.ceil(lo - TOL) + 0.0, np.floor(hi + TOL) + 0.0
    return lo, hi


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
    npos = np.asarray((Mh > 0).sum(axis=1)).ravel()
    nneg = np.asarray((Mh < 0).sum(axis=1)).ravel()
    one_side = ((npos >= 2) & (nneg == 0)) | ((nneg >= 2) & (npos == 0))
    s = np.abs(target)
    rows = np.flatnonzero(one_side & (s >= 1 - TOL) & (s <= threshold + TOL))
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
          lpl=None, upl=None, spl=None, progress: bool = False) -> AuditReport:
    """Audit a suppression pattern.

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
    iv = feasibility_intervals(table, hidden, req.attacker_lb, integer=integer, progress=progress)
    return build_report(table, hidden, req, iv, integer)


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
