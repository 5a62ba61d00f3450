"""The dims-free core: a table as values, a sparse linear system and per-cell arrays.

Everything downstream (rules, audit, model, solvers) sees only a
:class:`LinearTable`. A :class:`~cellsuppress.table.Table` built from pandas
is one way to make it; a tau-ARGUS JJ file is another.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..errors import TableError


@dataclass(eq=False)
class LinearTable:
    """Cells ``0..n-1`` tied by the equations ``M y = rhs``.

    Parameters
    ----------
    values : (n,) float array; ``NaN`` where a value is unknown (hidden in a
        published table).
    M : (m, n) sparse matrix of the additivity equations.
    rhs : (m,) right-hand sides (zero for additive tables).
    lb, ub : attacker's a-priori bounds per cell (default ``0`` and ``inf``).
    cost : per-cell weight used by ``protect`` when asked for ``cost="file"``;
        ``None`` when the source gave none.
    status : per-cell flags from the source: ``"s"`` safe, ``"u"`` unsafe
        (sensitive), ``"m"`` manually hidden, ``"z"`` must stay published.
    lpl, upl, spl : protection levels given by the source (``None`` if none).
    depth : per-cell depth in the hierarchies (sum over dimensions); used to
        prefer hiding detail cells over totals.
    hidden : per-cell hidden flags from the source (published tables); ``None``
        if the source did not say.

    Examples
    --------
    A row ``total = a + b`` with values 5, 2, 3:

    >>> import numpy as np, scipy.sparse as sp
    >>> t = LinearTable(values=np.array([5., 2., 3.]),
    ...                 M=sp.csr_matrix(np.array([[-1., 1., 1.]])))
    >>> t.n_cells, t.n_equations
    (3, 1)
    """

    values: np.ndarray
    M: sp.csr_matrix
    rhs: np.ndarray | None = None
    lb: np.ndarray | None = None
    ub: np.ndarray | None = None
    cost: np.ndarray | None = None
    status: np.ndarray | None = None
    lpl: np.ndarray | None = None
    upl: np.ndarray | None = None
    spl: np.ndarray | None = None
    depth: np.ndarray | None = None
    hidden: np.ndarray | None = None
    labels: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=float)
        n = self.values.shape[0]
        self.M = sp.csr_matrix(self.M, dtype=float)
        if self.M.shape[1] != n:
            raise TableError(f"M has {self.M.shape[1]} columns but there are {n} cells")
        m = self.M.shape[0]
        self.rhs = np.zeros(m) if self.rhs is None else np.asarray(self.rhs, dtype=float)
        self.lb = np.zeros(n) if self.lb is None else np.asarray(self.lb, dtype=float)
        self.ub = np.full(n, np.inf) if self.ub is None else np.asarray(self.ub, dtype=float)
        if self.depth is None:
            self.depth = np.zeros(n, dtype=np.int64)
        for name in ("cost", "lpl", "upl", "spl"):
            arr = getattr(self, name)
            if arr is not None:
                setattr(self, name, np.asarray(arr, dtype=float))
        if self.status is not None:
            self.status = np.asarray(self.status, dtype="<U1")
        if self.hidden is not None:
            self.hidden = np.asarray(self.hidden, dtype=bool)

    # -- sizes -----------------------------------------------------------
    @property
    def n_cells(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_equations(self) -> int:
        return int(self.M.shape[0])

    @property
    def known(self) -> np.ndarray:
        """Cells whose true value is known."""
        return ~np.isnan(self.values)

    def cell_labels(self, idx) -> list[str]:
        """Human-readable names of cells, for messages."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        if self.labels is None:
            return [f"cell {i}" for i in idx]
        sub = self.labels.iloc[idx]
        return [
            "(" + ", ".join(f"{c}={v}" for c, v in zip(sub.columns, row)) + ")"
            for row in sub.itertuples(index=False)
        ]

    def equation_label(self, row: int) -> str:
        """A readable form of one equation: ``(total) = (a) + (b)``."""
        r = self.M.getrow(row)
        neg = r.indices[r.data < 0]
        pos = r.indices[r.data > 0]
        lhs = " + ".join(self.cell_labels(neg)) or "0"
        rh = " + ".join(self.cell_labels(pos)) or "0"
        return f"{lhs} = {rh}"

    def nonzero_floor(self) -> np.ndarray:
        """The least value of every cell when each non-zero cell is at least 1 (counts whose
        zeros are all published: ``hidden_nonzero``); a cell of unknown value counts as non-zero.

        Without dimensions (e.g. a JJ file) it comes from the equations: where an equation
        with right-hand side 0 makes one cell a positive combination of the others (its only
        term of its sign, as in ``total = a + b``), that cell is at least the same combination
        of their floors, applied until nothing changes (a round per level of nesting). It is
        what the equations and the 1s imply, so never more than an attacker can know; for a
        table of counts it is the number of non-zero finest-level cells below each cell.

        >>> import numpy as np, scipy.sparse as sp
        >>> t = LinearTable(values=np.array([16., 8., 8., 0.]), M=sp.csr_matrix([[-1., 1, 1, 1]]))
        >>> t.nonzero_floor().tolist()
        [2.0, 1.0, 1.0, 0.0]
        """
        floor = np.where(self.values == 0, 0.0, 1.0)
        parts, total = sum_terms(self.M, self.rhs)
        if not total.size:
            return floor
        for _ in range(self.n_equations + 1):  # a chain of sums uses each equation once at most
            new = floor.copy()
            np.maximum.at(new, total, parts @ floor)
            if (new - floor).max() <= 1e-9:
                break
            floor = new
        return floor

    def residuals(self) -> np.ndarray:
        """``M a - rhs`` with the known values (NaN where a value is unknown)."""
        # sparse products touch only stored entries, so NaN reaches just its rows
        return self.M @ self.values - self.rhs


def sum_terms(M: sp.spmatrix, rhs: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """The equations that make one cell a positive combination of others: ``(P, total)`` with
    ``y[total[i]] = P[i] @ y`` for every row ``i`` of ``P``, one per (equation, cell that is the
    only term of its sign there, with terms of the other sign), for equations with right-hand
    side 0.

    >>> import numpy as np, scipy.sparse as sp
    >>> P, total = sum_terms(sp.csr_matrix([[-2., 1, 3], [1, -1, 0]]), np.zeros(2))
    >>> total.tolist(), P.toarray().tolist()
    ([0, 1, 0], [[0.0, 0.5, 1.5], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    """
    coo = sp.coo_matrix(M)
    m, n = coo.shape
    r, c, v = coo.row, coo.col, coo.data
    keep = v != 0
    r, c, v = r[keep], c[keep], v[keep]
    homogeneous = np.abs(np.asarray(rhs, dtype=float)) == 0
    count = {s: np.bincount(r[np.sign(v) == s], minlength=m) for s in (1.0, -1.0)}
    P_blocks, totals = [], []
    for s in (-1.0, 1.0):
        single = homogeneous & (count[s] == 1) & (count[-s] >= 1)
        is_total = single[r] & (np.sign(v) == s)
        pair_of_row = np.full(m, -1, dtype=np.int64)
        pair_of_row[r[is_total]] = np.arange(int(is_total.sum()))
        part = single[r] & (np.sign(v) == -s)
        pair = pair_of_row[r[part]]
        coef = -v[part] / v[is_total][pair]
        P_blocks.append(sp.csr_matrix((coef, (pair, c[part])), shape=(int(is_total.sum()), n)))
        totals.append(c[is_total])
    return sp.vstack(P_blocks, format="csr"), np.concatenate(totals).astype(np.int64)


def hidden_blocks(M: sp.spmatrix, hidden: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Connected blocks of hidden cells: cells tied by a shared equation.

    Returns ``(n_blocks, block_of_cell, block_of_row)`` where ``block_of_cell``
    is ``-1`` for published cells and ``block_of_row`` is ``-1`` for equations
    without hidden cells.

    >>> import numpy as np, scipy.sparse as sp
    >>> M = sp.csr_matrix(np.array([[-1, 1, 1, 0, 0], [0, 0, 0, -1, 1.]]))
    >>> nb, bc, br = hidden_blocks(M, np.array([0, 1, 1, 1, 1], bool))
    >>> nb, bc.tolist(), br.tolist()
    (2, [-1, 0, 0, 1, 1], [0, 1])
    """
    M = sp.csr_matrix(M)
    m, n = M.shape
    hidden = np.asarray(hidden, dtype=bool)
    Mh = M[:, hidden].tocoo()
    k = Mh.shape[1]
    nz = Mh.data != 0
    r, c = Mh.row[nz], Mh.col[nz]
    # bipartite graph: hidden cells 0..k-1, equations k..k+m-1; one direction of each edge is
    # enough for weak components (and half the work of a symmetric matrix, on every separation)
    adj = sp.csr_matrix((np.ones(r.size, dtype=np.int8), (k + r, c)), shape=(k + m, k + m))
    _, lab = connected_components(adj, directed=True, connection="weak")
    cell_lab = lab[:k]
    uniq, cell_block = np.unique(cell_lab, return_inverse=True)
    block_of_cell = np.full(n, -1, dtype=np.int64)
    block_of_cell[hidden] = cell_block
    row_has = np.bincount(r, minlength=m) > 0
    block_of_row = np.full(m, -1, dtype=np.int64)
    if row_has.any():
        block_of_row[row_has] = np.searchsorted(uniq, lab[k:][row_has])
    return int(uniq.size), block_of_cell, block_of_row


def block_members(labels: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions grouped by block label: block ``b`` holds ``order[cuts[b]:cuts[b + 1]]``
    (labels below 0, e.g. published cells, belong to none).

    >>> order, cuts = block_members(np.array([1, -1, 0, 1]), 2)
    >>> [order[cuts[b]:cuts[b + 1]].tolist() for b in range(2)]
    [[2], [0, 3]]
    """
    order = np.argsort(labels, kind="stable")
    cuts = np.searchsorted(labels[order], np.arange(n_blocks + 1))
    return order, cuts


def known_sum_rows(Mh: sp.spmatrix, sums: np.ndarray, threshold: float, tol: float = 1e-6) -> np.ndarray:
    """Equations whose hidden cells (two or more, all with the same sign) have a known sum
    ``|sums|`` in ``1..threshold``: the sum of those cells is disclosed as a small count.

    ``Mh`` holds the equations over the hidden cells only (other columns dropped or zeroed);
    ``sums`` is, per equation, what its hidden cells add up to (from the published cells).

    >>> import numpy as np, scipy.sparse as sp
    >>> Mh = sp.csr_matrix(np.array([[1., 1], [1, 0]]))  # cells 1 and 2 of [[-1, 1, 1], [-1, 1, 0]]
    >>> known_sum_rows(Mh, np.array([7., 3.]), 20).tolist()
    [0]
    """
    Mh = sp.csr_matrix(Mh)
    npos = np.asarray((Mh > 0).sum(axis=1)).ravel()
    nneg = np.asarray((Mh < 0).sum(axis=1)).ravel()
    one_side = ((npos >= 2) & (nneg == 0)) | ((nneg >= 2) & (npos == 0))
    s = np.abs(np.asarray(sums, dtype=float))
    return np.flatnonzero(one_side & (s >= 1 - tol) & (s <= threshold + tol))
