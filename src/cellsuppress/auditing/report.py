"""The audit: verdicts per cell from the attacker's intervals, and the report.

A hidden sensitive cell is protected when its feasibility interval
(:mod:`cellsuppress.auditing.intervals`) meets the preset's requirement
(:mod:`cellsuppress.rules`); verified attacker moves
(:mod:`cellsuppress.auditing.certify`) may stand in for its LPs.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import AuditError
from ..params import check_audit_params
from ..rules import Requirement, linked_sensitive, requirement
from ..tables.linear import LinearTable, known_sum_rows
from ..tables.linked import LinkedTables
from .certify import certify_levels
from .intervals import Intervals, feasibility_intervals

TOL = 1e-6

@dataclass
class AuditReport:
    """Result of :func:`audit`.

    ``frame`` has one row per hidden cell (and per published sensitive cell):
    the cell's codes, ``value``, ``lo``, ``hi``, ``sensitive``, ``protected``
    and ``reason``. ``ok`` is True only when every sensitive cell is verified
    protected, no published cell is sensitive, no multi-cell disclosure
    exists (presets that audit known sums: ``strict`` and ``policy``) and no verdict depends on an
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
    def verdict(self) -> str:
        """``SAFE`` or ``NOT SAFE``: how every report of a result words ``ok``."""
        return "SAFE" if self.ok else "NOT SAFE"

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
            f"{self.verdict}",
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
        if not self.ok and len(self.undetermined) and not len(self.unprotected) and not len(self.multi_cell):
            lines.append("  every failure is undetermined: the verdict needs hidden values this table does not give; "
                         "to verify your own pattern, audit it with the true values (cellsuppress audit TABLE.csv "
                         "--dims ... --count ... --hidden-column COL, or audit(table, hidden=...))")
        lines.append(f"  {self.stats.get('solves', 0)} solves in {self.stats.get('seconds', 0):.2f} s")
        return "\n".join(lines)


def _describe(r) -> str:
    codes = ", ".join(f"{k}={v}" for k, v in r.items()
                      if k not in ("value", "lo", "hi", "hidden", "sensitive", "protected", "reason", "cell"))
    name = codes or f"cell {r.get('cell')}"
    val = "?" if pd.isna(r["value"]) else f"{r['value']:g}"
    return f"({name}) value {val}: [{r['lo']:g}, {r['hi']:g}] {r['reason']}"


def resolve_hidden(table: LinearTable, hidden, name: str = "hidden") -> np.ndarray:
    """Hidden cells as a boolean array from any accepted form (``name``: the parameter, for messages).

    A boolean array aligned to ``table.frame``, an array of cell indices, the name of a boolean
    column of ``table.frame``, a DataFrame of codes, or ``None`` for a published table's markers.
    """
    n = table.n_cells
    if hidden is None:
        if table.hidden is None:
            raise AuditError(f"no hidden cells given: pass {name}=... or a published table with markers")
        return table.hidden.copy()
    if isinstance(hidden, str):
        frame = table.frame
        if hidden not in frame.columns:
            raise AuditError(f"{name} column {hidden!r} not in the table; it has {list(frame.columns)}")
        col = frame[hidden]
        out = np.zeros(n, dtype=bool)  # cells without an input row (computed margins) are published
        given = col.notna().to_numpy()
        out[given] = _as_bool(col[given], f"{name} column {hidden!r}")
        return out
    if isinstance(hidden, pd.DataFrame):
        dims = getattr(table, "dims", None)
        if dims is None:
            raise AuditError(f"{name}: a DataFrame of codes needs a table with dimensions")
        out = np.zeros(n, dtype=bool)
        out[table.cell_index(hidden)] = True
        return out
    arr = np.asarray(hidden)
    if arr.dtype != bool:
        if arr.ndim == 1 and arr.size and np.issubdtype(arr.dtype, np.integer) and arr.size != n:
            out = np.zeros(n, dtype=bool)
            if arr.min() < 0 or arr.max() >= n:
                raise AuditError(f"{name}: cell index out of range 0..{n - 1}")
            out[arr] = True
            return out
        arr = _as_bool(pd.Series(arr), name)
    if arr.shape != (n,):
        raise AuditError(f"{name} has {arr.size} entries but the table has {n} cells")
    return arr.astype(bool)


_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")


def _as_bool(col: pd.Series, name: str) -> np.ndarray:
    """A hidden flag per cell from booleans, 0/1, true/false or yes/no (any case)."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(col.dtype):
        text = col.map(lambda v: "1" if v == 1 else "0" if v == 0 else str(v))
    else:
        text = col.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE + _FALSE)
    if bad.any():
        found = list(dict.fromkeys(col[bad].astype(str)))
        raise AuditError(f"{name} must be boolean (0/1, true/false or yes/no); found "
                         f"{', '.join(map(repr, found[:5]))}{' ...' if len(found) > 5 else ''}")
    return text.isin(_TRUE).to_numpy()


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


def audit(table: LinearTable, hidden=None, preset: str | None = None, threshold: float = 20,
          integer: bool = False, hidden_nonzero: bool = False, sensitive=None,
          lpl=None, upl=None, spl=None, progress: bool = False, sensitive_only: bool = False,
          certify: bool = False, moves=None) -> AuditReport:
    """Audit a suppression pattern.

    ``preset=None`` follows the table: its own protection levels (``custom``) when it has them
    (a JJ file), else ``strict`` (:mod:`cellsuppress.params`).

    ``sensitive_only`` computes the intervals of the sensitive hidden cells alone (the others'
    ``lo``/``hi`` are NaN): the verdict is the same, and large blocks take far fewer solves.

    ``certify`` (with ``sensitive_only``, LP attacker, known values) first looks for attacker
    moves that protect many sensitive cells at once (:mod:`cellsuppress.auditing.certify`); a cell whose
    requirement such a verified move meets needs no interval LP, and its ``lo``/``hi`` are then the
    values that the verified tables reach (its true interval contains ``[lo, hi]``; ``stats``
    counts these cells as ``certified``). Every other sensitive cell gets its exact interval, so
    the verdict is the same. ``moves`` (with ``certify``) are attacker moves to try before any
    LP, e.g. from the method that made the pattern: a sparse matrix with one move per row, a
    column per cell (``table.n_cells``). Each is verified like the audit's own (within the
    attacker's bounds on hidden cells, 0 on published ones, every equation met) and counts only
    then, so the verdict does not depend on them.

    ``hidden``: a boolean array aligned to ``table.frame``, a boolean column
    of ``table.frame``, a DataFrame of codes of hidden cells, or ``None`` for
    a published table whose markers say which cells are hidden.

    ``table`` may be a list of tables of one population (linked tables): they are audited as
    one system (:class:`~cellsuppress.tables.linked.LinkedTables`), the attacker reading them
    all, and ``hidden`` (and ``sensitive`` or per-cell levels) is a list with one entry per
    table (a column name or ``None`` applies to each). A shared cell hidden in one table but
    shown in another is published (with a warning naming it). The report names cells by their
    codes over every dimension, a dimension a table lacks at its total.

    >>> import pandas as pd, cellsuppress as cs
    >>> from cellsuppress.auditing.report import audit
    >>> df = pd.DataFrame({"r": ["a", "a", "b", "b"], "c": ["x", "y"] * 2, "n": [3, 40, 25, 30]})
    >>> t = cs.Table.from_frame(df, dims=["r", "c"], count="n")
    >>> rep = audit(t, hidden=(t.frame.r == "a") & (t.frame.c == "x"))
    >>> rep.ok, rep.frame["reason"].iloc[0]
    (False, 'exactly disclosed')
    """
    if isinstance(table, (list, tuple)):
        table, hidden, sensitive, lpl, upl, spl = linked_inputs(table, hidden, sensitive, lpl, upl, spl, threshold)
    preset = check_audit_params(table, preset=preset, threshold=threshold)
    hidden = resolve_hidden(table, hidden)
    if moves is not None and not (sp.issparse(moves) and moves.ndim == 2 and moves.shape[1] == table.n_cells):
        raise AuditError(f"moves must be a sparse matrix with one column per cell ({table.n_cells}), got "
                         f"{type(moves).__name__}{' of shape ' + str(moves.shape) if hasattr(moves, 'shape') else ''}")
    if hidden_nonzero and (hidden & (table.values == 0)).any():
        zero = np.flatnonzero(hidden & (table.values == 0))
        raise AuditError(f"hidden_nonzero=True, but hidden cell(s) {', '.join(table.cell_labels(zero[:5]))} are 0; "
                         "the attacker's bound of 1 would be wrong")
    req = requirement(table, preset, threshold, sensitive=sensitive, hidden_nonzero=hidden_nonzero,
                      lpl=lpl, upl=upl, spl=spl)
    only = None
    done = None
    if sensitive_only:
        only = req.sensitive | np.isnan(table.values)  # a cell of unknown value may be sensitive
        if certify and not integer and not np.isnan(table.values[hidden]).any():
            t0 = time.perf_counter()
            done, clo, chi, n_lps = certified_cells(table, hidden, req, moves)
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


def linked_inputs(tables, hidden, sensitive, lpl, upl, spl, threshold) -> tuple:
    """The joint table of linked ``tables`` and the per-table arguments of :func:`audit` joined
    onto its cells."""
    joint = LinkedTables(tables)
    flags = [resolve_hidden(t, h) for t, h in zip(joint.tables, joint.per_table(hidden, "hidden"))]
    mixed = np.flatnonzero(joint.mixed(flags))
    if mixed.size:
        warnings.warn(f"{mixed.size} shared cell(s) hidden in one table but shown in another count as published: "
                      f"{'; '.join(joint.cell_labels_of(mixed[:5]))}{' ...' if mixed.size > 5 else ''}",
                      UserWarning, stacklevel=3)
    joined = joint.join(flags, "hidden", how="all")
    sensitive = linked_sensitive(joint, sensitive, threshold)
    levels = [x if x is None or isinstance(x, Real) else joint.join(joint.per_table(x, name), name)
              for x, name in ((lpl, "lpl"), (upl, "upl"), (spl, "spl"))]
    return (joint, joined, sensitive, *levels)


def certified_cells(table: LinearTable, hidden: np.ndarray, req: Requirement, moves=None):
    """Sensitive hidden cells whose requirement verified attacker moves meet (LP attacker);
    ``moves`` are tried first (see :func:`audit`).

    Returns ``(done, lo, hi, lps)``: ``lo``/``hi`` are the least and greatest values the verified
    tables give each cell, so its interval contains ``[lo, hi]``; ``done`` is where the audit's
    own rule (:meth:`Requirement.satisfied`) accepts ``[lo, hi]``. Needs every hidden value.
    """
    a = table.values
    cap_up, cap_dn = req.capacities(table)
    want = hidden & req.sensitive
    up, dn, spl = req.levels(a, where=hidden)
    cert, held = certify_levels(table.M, hidden, cap_up, cap_dn, up, dn, spl, either=req.preset.either_side,
                                focus=2 * int(want.sum()), seeds=moves)
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
    meets = req.for_every_cell().satisfied(lo, hi)
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
    reason[fail] = req.why(l[fail], u[fail], rows[fail])
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
    reason[c] = req.why(l[c], u[c], rows[c])
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
    mc_fail = req.preset.audit_known_sums and bool(mc["risk"].any())
    ok = bool(frame["protected"].fillna(False).all() and not mc_fail)
    stats = {"hidden": int(hidden.sum()), "blocks": iv.n_blocks, "solves": iv.n_solves, "seconds": iv.seconds}
    return AuditReport(frame=frame, ok=ok, multi_cell=mc, preset=req.preset.name, threshold=T,
                       integer=integer, lo=lo, hi=hi, stats=stats)

