"""The suppression problem on plain arrays: what the methods solve.

A :class:`Problem` holds, per cell, the value, how far an attacker may move it
when hidden (capacities), the protection levels of the sensitive cells, the
weights of the objective and the cells forced hidden or published. It is built
from a table and a preset's requirement by :func:`build_problem`; everything in
:mod:`cellsuppress.suppress` works on it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..auditing.report import resolve_hidden
from ..errors import InfeasibleError, RuleError, TableError
from ..tables.linear import LinearTable
from ..tables.table import Table

COSTS = ("value", "unity", "log", "file")


@dataclass
class Problem:
    """One suppression problem on cells ``0..n-1`` (a table or one of its components).

    Capacities are how far an attacker may move a hidden cell: ``cap_up =
    ub - a`` and ``cap_dn = a - lb``. ``up``/``dn``/``spl`` are the protection
    levels (0 where none). The preset's capabilities (:class:`cellsuppress.rules.Preset`):
    with ``either_side`` each sensitive cell needs ``up`` **or** ``dn``; with
    ``equation_sum_rule`` no equation's hidden cells may have a known sum in
    ``1..threshold`` that holds a sensitive cell.
    """

    M: sp.csr_matrix
    a: np.ndarray
    cap_up: np.ndarray
    cap_dn: np.ndarray
    sensitive: np.ndarray
    up: np.ndarray
    dn: np.ndarray
    spl: np.ndarray
    weight: np.ndarray  # objective as solved (true cost plus tie-break)
    cost: np.ndarray  # true cost
    force_hidden: np.ndarray
    force_published: np.ndarray
    either_side: bool = False
    equation_sum_rule: bool = False
    threshold: float = 20.0
    # code index per dimension (cells x dims) for tables with dimensions, else None
    codes: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.a.size)

    @property
    def blocked(self) -> np.ndarray:
        """Cells that may not be hidden (forced published and not forced hidden)."""
        return self.force_published & ~self.force_hidden

    @property
    def has_requirement(self) -> np.ndarray:
        """Sensitive cells with a level to meet (up, down or spread)."""
        return self.sensitive & ((self.up > 0) | (self.dn > 0) | (self.spl > 0))

    @property
    def free(self) -> np.ndarray:
        """Cells the pattern may hide or publish."""
        return ~self.force_hidden & ~self.force_published

    def subproblem(self, cells: np.ndarray) -> "Problem":
        """The problem restricted to ``cells`` (a union of whole components)."""
        rows = np.flatnonzero(np.diff(sp.csr_matrix(self.M[:, cells]).indptr) > 0)
        return self.restrict(cells, rows)

    def only(self, cells: np.ndarray) -> "Problem":
        """The problem with the requirements of the sensitive cells other than ``cells`` dropped
        (their levels set to 0: they are met already, or checked elsewhere)."""
        keep = np.zeros(self.n, dtype=bool)
        keep[cells] = True
        return dataclasses.replace(self, up=np.where(keep, self.up, 0.0), dn=np.where(keep, self.dn, 0.0),
                                   spl=np.where(keep, self.spl, 0.0))

    def restrict(self, cells: np.ndarray, rows: np.ndarray) -> "Problem":
        """The problem on ``cells`` with only the equations ``rows`` (which must lie within them)."""
        kw = {k: getattr(self, k)[cells] for k in ("a", "cap_up", "cap_dn", "sensitive", "up", "dn", "spl",
                                                   "weight", "cost", "force_hidden", "force_published")}
        codes = None if self.codes is None else self.codes[cells]
        return Problem(M=sp.csr_matrix(self.M[rows][:, cells]), either_side=self.either_side,
                       equation_sum_rule=self.equation_sum_rule, threshold=self.threshold, codes=codes, **kw)


def cost_weights(values: np.ndarray, cost="value", file_cost: np.ndarray | None = None) -> np.ndarray:
    """Per-cell information loss: ``value``, ``unity``, ``log`` (log(1+value)), ``file`` or an array.

    >>> cost_weights(np.array([0., 9.]), "log").round(3).tolist()
    [0.0, 2.303]
    """
    v = np.asarray(values, dtype=float)
    if isinstance(cost, str):
        if cost == "value":
            return v.copy()
        if cost == "unity":
            return np.ones_like(v)
        if cost == "log":
            return np.log1p(v)
        if cost == "file":
            if file_cost is None:
                raise RuleError("cost='file' needs a table that carries costs (e.g. a JJ file)")
            return np.asarray(file_cost, dtype=float).copy()
        raise RuleError(f"unknown cost {cost!r}; choose one of {', '.join(COSTS)} or pass an array")
    w = np.asarray(cost, dtype=float)
    if w.shape != v.shape:
        raise RuleError(f"cost array has {w.size} entries but the table has {v.size} cells")
    if (w < 0).any() or ~np.isfinite(w).all():
        raise RuleError("costs must be finite and non-negative")
    return w


def tie_break(cost: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, float]:
    """A tiny extra weight per hidden cell, larger for margins, so that among equal-cost
    patterns the solver hides fewer cells and prefers detail cells over totals.

    Returns ``(epsilon per cell, bound on its total)``. For integral costs the
    total stays below 1/4, so it never changes which cost is optimal.
    """
    n = cost.size
    if n == 0:
        return np.zeros(0), 0.0
    dmax = float(depth.max()) if depth.size else 0.0
    shape = 1.0 + (dmax - depth) / (dmax + 1.0)  # in [1, 2): totals cost most
    pos = cost[cost > 0]
    unit = 1.0 if integral_costs(cost) else (float(np.min(pos)) if pos.size else 1.0) * 1e-3
    eps = unit * 0.125 / n
    return eps * shape, 0.25 * unit


def integral_costs(cost: np.ndarray) -> bool:
    return bool(np.all(np.abs(cost - np.round(cost)) < 1e-9))


def build_problem(table: LinearTable, req, cost, hidden_nonzero: bool, force_hidden=None,
                  force_published=None) -> Problem:
    """Capacities, levels, weights and forced cells of ``table`` under ``req``.

    Besides the sensitive cells, a table's status ``m`` and the boolean mask ``force_hidden`` force
    cells hidden; status ``z``, ``force_published`` and zeros under ``hidden_nonzero`` force them
    published."""
    a = table.values
    cap_up, cap_dn = req.capacities(table)
    sens = req.sensitive
    up, dn, spl = req.levels(a)
    w = cost_weights(a, cost, table.cost)
    eps, _ = tie_break(w, table.depth)
    hide = sens.copy()
    keep = np.zeros(a.size, dtype=bool)
    if table.status is not None:
        keep |= table.status == "z"
        hide |= table.status == "m"
    if force_hidden is not None:
        hide |= np.asarray(force_hidden, dtype=bool)
    if force_published is not None:
        keep |= np.asarray(force_published, dtype=bool)
    if hidden_nonzero:
        keep |= a == 0
    clash = np.flatnonzero(hide & keep)
    if clash.size:
        why = np.where(sens[clash], "sensitive", "forced hidden")
        raise InfeasibleError(f"{clash.size} cell(s) must stay published but are sensitive or forced hidden: "
                              + ", ".join(f"{lab} ({reason})" for lab, reason in
                                          zip(table.cell_labels(clash[:10]), why))
                              + (" ..." if clash.size > 10 else ""))
    return Problem(M=sp.csr_matrix(table.M), a=a, cap_up=cap_up, cap_dn=cap_dn,
                   sensitive=sens, up=up, dn=dn, spl=spl, weight=w + eps, cost=w,
                   force_hidden=hide, force_published=keep,
                   either_side=req.preset.either_side, equation_sum_rule=req.preset.equation_sum_rule,
                   threshold=req.threshold, codes=_codes(table))


def _codes(table: LinearTable) -> np.ndarray | None:
    """Code index per dimension of every cell (cells are in C order over the codes; linked tables
    carry theirs, over the union of their dimensions)."""
    if getattr(table, "codes", None) is not None:
        return np.asarray(table.codes)
    if not isinstance(table, Table):
        return None  # e.g. a JJ file: equations without dimensions
    return np.indices(table.shape).reshape(len(table.shape), -1).T.copy()




# what a status column may say: the statuses protect writes, and "hidden"
STATUS_HIDDEN = ("hidden", "primary", "secondary")
STATUS_PUBLISHED = ("published",)


def forced_cells(table: LinearTable, force_published=None, force_hidden=None,
                 status_column: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(published, hidden)``: the cells the user fixes, as boolean masks.

    ``force_published`` and ``force_hidden`` take the forms of ``audit``'s ``hidden`` (a boolean
    mask aligned to ``table.frame``, cell indices, a boolean column of the frame or a DataFrame
    of codes); ``status_column`` names a column of the frame that says ``published`` or
    ``hidden`` (also ``primary``/``secondary``, as ``protect`` writes), empty where the method
    chooses. A cell fixed both ways raises :class:`InfeasibleError` naming it.
    """
    n = table.n_cells
    keep = np.zeros(n, dtype=bool)
    hide = np.zeros(n, dtype=bool)
    if force_published is not None:
        keep |= resolve_hidden(table, force_published, "force_published")
    if force_hidden is not None:
        hide |= resolve_hidden(table, force_hidden, "force_hidden")
    if status_column is not None:
        k, h = status_flags(table, status_column)
        keep |= k
        hide |= h
    both = np.flatnonzero(keep & hide)
    if both.size:
        raise InfeasibleError(f"{both.size} cell(s) are required both published and hidden: "
                              f"{', '.join(table.cell_labels(both[:10]))}{' ...' if both.size > 10 else ''}")
    return keep, hide


def status_flags(table: LinearTable, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``(published, hidden)`` from a status column of ``table.frame`` (see :func:`forced_cells`)."""
    frame = getattr(table, "frame", None)
    if frame is None or column not in frame.columns:
        have = [] if frame is None else list(frame.columns)
        raise TableError(f"status column {column!r} not in the table; it has {have}")
    text = frame[column].astype("string").str.strip().str.lower().fillna("")
    bad = ~text.isin(STATUS_HIDDEN + STATUS_PUBLISHED + ("",)).to_numpy()
    if bad.any():
        idx = np.flatnonzero(bad)
        found = list(dict.fromkeys(frame[column].iloc[idx].astype(str)))
        raise TableError(
            f"status column {column!r} says {', '.join(map(repr, found[:5]))} for "
            f"{', '.join(table.cell_labels(idx[:3]))}{' ...' if idx.size > 3 else ''}; a status is "
            f"{', '.join(STATUS_PUBLISHED + STATUS_HIDDEN)} (any case), or empty where protect chooses")
    text = text.to_numpy()
    return np.isin(text, STATUS_PUBLISHED), np.isin(text, STATUS_HIDDEN)
