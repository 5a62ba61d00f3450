"""Tables with dimensions and hierarchies, built from pandas in long format.

A :class:`Table` is a :class:`~cellsuppress.linear.LinearTable` that also
knows its dimensions: every combination of codes at every level of every
dimension is a cell (margins and the grand total included), listed in
C order over the hierarchies' code orders. ``table.frame`` shows them.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import TableError
from .hierarchy import Hierarchy, as_code
from .linear import LinearTable
from .messages import rows_named, show, some

DEFAULT_MARKERS = ("", "NA", "*", "x", "X", "S", "D", "<20", "<=20", "..")


class Table(LinearTable):
    """A count table over hierarchical dimensions.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"sex": ["F", "F", "M", "M"], "age": ["young", "old"] * 2,
    ...                    "n": [3, 40, 25, 30]})
    >>> t = Table.from_frame(df, dims=["sex", "age"], count="n")
    >>> t.frame.head(3)
         sex    age  value
    0  Total  Total   98.0
    1  Total  young   28.0
    2  Total    old   70.0
    >>> t.n_cells, t.n_equations
    (9, 6)
    """

    def __init__(self, dims: Sequence[str], hierarchies: Sequence[Hierarchy], values: np.ndarray,
                 hidden: np.ndarray | None = None, lb=None, ub=None):
        self.dims = list(dims)
        self.hierarchies = list(hierarchies)
        self.shape = tuple(len(h) for h in self.hierarchies)
        M = additivity_matrix(self.hierarchies)
        depth = _grid_sum([h.depth for h in self.hierarchies])
        super().__init__(values=values, M=M, lb=lb, ub=ub, depth=depth, hidden=hidden)
        self.labels = self._code_frame()
        self.extra = pd.DataFrame(index=pd.RangeIndex(self.n_cells))

    # -- views -------------------------------------------------------------
    def _code_frame(self) -> pd.DataFrame:
        idx = np.indices(self.shape).reshape(len(self.shape), -1)
        return pd.DataFrame({
            d: pd.Categorical.from_codes(i, categories=h.codes)
            for d, h, i in zip(self.dims, self.hierarchies, idx)
        })

    @property
    def frame(self) -> pd.DataFrame:
        """One row per cell: the dimension codes, ``value``, and any other columns the input rows had
        (missing where a cell had no input row)."""
        f = self.labels.astype(str)
        f["value"] = self.values
        for c in self.extra.columns:
            if c not in f:  # an input column named "value" does not replace the values
                f[c] = self.extra[c].array
        return f

    def cell_index(self, codes: pd.DataFrame) -> np.ndarray:
        """Cell numbers of rows of codes (one column per dimension); raises naming unknown codes."""
        pos = []
        for d, h in zip(self.dims, self.hierarchies):
            col = codes[d].map(as_code)
            h.check_codes(col.unique(), d)
            pos.append(col.map(h.index).to_numpy(dtype=np.int64))
        return np.ravel_multi_index(tuple(pos), self.shape) if pos else np.zeros(0, np.int64)

    def nonzero_floor(self) -> np.ndarray:
        """The number of non-zero finest-level cells below every cell (1 or 0 for one of them):
        the least value each cell can take when every non-zero cell is at least 1. A cell of
        unknown value (hidden in a published table) counts as non-zero.

        >>> import pandas as pd
        >>> df = pd.DataFrame({"g": ["a", "b", "c"], "n": [8, 8, 0]})
        >>> t = Table.from_frame(df, dims=["g"], count="n")
        >>> t.nonzero_floor().tolist()
        [2.0, 1.0, 1.0, 0.0]
        """
        leaves = np.ix_(*[np.flatnonzero(h.is_leaf) for h in self.hierarchies])
        nonzero = self.values.reshape(self.shape)[leaves] != 0
        return aggregate_leaves(nonzero.astype(float), self.hierarchies).ravel()

    # -- construction ------------------------------------------------------
    @classmethod
    def from_frame(cls, df: pd.DataFrame, dims: Sequence[str], count: str,
                   hierarchies: Mapping[str, object] | None = None, total_code: str = "Total",
                   lb=None, ub=None) -> "Table":
        """A table from long format: one column per dimension, one count column.

        Rows may be leaf cells only (margins are computed) or include margins
        (they are checked against the sum of their children). Leaf cells
        without a row are zero; a code of a given hierarchy that no row has
        makes its cells zero too, with a ``UserWarning`` naming it. Other
        columns are carried to :attr:`frame` (missing for cells without a row).
        """
        _check_columns(df, list(dims) + [count])
        _check_rows(df, dims)
        counts = _check_counts(df, count)
        return cls._from_counts(df, dims, counts, hierarchies, total_code, lb=lb, ub=ub, skip=[count])

    @classmethod
    def from_microdata(cls, df: pd.DataFrame, dims: Sequence[str],
                       hierarchies: Mapping[str, object] | None = None, total_code: str = "Total") -> "Table":
        """A table of counts of the rows of ``df`` (microdata: one row per person).

        Each cell counts the rows with its codes (margins included; a combination of codes that
        no row has is 0). ``dims`` are columns of ``df``; its other columns are ignored.
        ``hierarchies`` and ``total_code`` are as in :meth:`from_frame`. Several tables cut from
        one data set share their margins; protect and audit them together by passing the list
        (linked tables, :mod:`cellsuppress.tables.linked`).

        >>> import pandas as pd
        >>> people = pd.DataFrame({"age": ["0-17", "18-64", "18-64", "65+"], "sex": ["F", "M", "F", "F"]})
        >>> Table.from_microdata(people, dims=["age", "sex"]).frame.query("sex == 'F'")
              age sex  value
        1   Total   F    3.0
        4    0-17   F    1.0
        7   18-64   F    1.0
        10    65+   F    1.0
        """
        _check_columns(df, list(dims))
        _check_rows(df, dims)
        grouped = df.groupby([df[d].map(as_code) for d in dims], sort=False, observed=True).size()
        agg = grouped.reset_index(name="__n__")
        return cls._from_counts(agg, dims, agg["__n__"].to_numpy(float), hierarchies, total_code)

    @classmethod
    def from_published(cls, df: pd.DataFrame, dims: Sequence[str], count: str,
                       hierarchies: Mapping[str, object] | None = None, total_code: str = "Total",
                       markers: Sequence[str] | None = None) -> "Table":
        """A table as published: hidden cells carry a marker instead of a number.

        The true values of hidden cells are unknown (``NaN``); ``table.hidden``
        marks them. Every cell of the table must have a row (a published
        table shows all its cells, margins included).
        """
        _check_columns(df, list(dims) + [count])
        _check_rows(df, dims)
        markers = DEFAULT_MARKERS if markers is None else tuple(markers)
        raw = df[count]
        text = raw.astype("string").str.strip()
        is_marker = raw.isna() | text.isin(markers).fillna(True)
        nums = pd.to_numeric(text.where(~is_marker), errors="coerce")
        bad = ~is_marker & nums.isna()
        if bad.any():
            i = bad.to_numpy().nonzero()[0][0]
            raise TableError(
                f"{rows_named(df.index, [i])}: count {show(raw.iloc[i])} in column {count!r} is neither a number "
                f"nor a suppression marker (markers: {', '.join(map(repr, markers))})")
        known = ~is_marker
        _check_counts(pd.DataFrame({count: nums[known]}, index=df.index[known]), count)
        hier = _hierarchies(df, dims, hierarchies, total_code)
        t = cls.__new__(cls)
        Table.__init__(t, dims, hier, np.full(int(np.prod([len(h) for h in hier])), np.nan))
        cell = t.cell_index(df)
        _check_duplicates(df, dims, cell)
        present = np.zeros(t.n_cells, dtype=bool)
        present[cell] = True
        if not present.all():
            miss = np.flatnonzero(~present)
            raise TableError(
                f"the published table lacks {miss.size} cell(s), e.g. {', '.join(t.cell_labels(miss[:5]))}; "
                "a published table lists every cell, margins included")
        values = np.full(t.n_cells, np.nan)
        values[cell] = nums.to_numpy(dtype=float)
        t.values = values
        hidden = np.zeros(t.n_cells, dtype=bool)
        hidden[cell] = is_marker.to_numpy()
        t.hidden = hidden
        t._keep_extra(df, dims, cell, skip=[count])
        _check_margins(t)
        return t

    @classmethod
    def _from_counts(cls, df, dims, counts, hierarchies, total_code, lb=None, ub=None, skip=()) -> "Table":
        hier = _hierarchies(df, dims, hierarchies, total_code, warn_absent=True)
        t = cls.__new__(cls)
        Table.__init__(t, dims, hier, np.zeros(int(np.prod([len(h) for h in hier]))), lb=lb, ub=ub)
        cell = t.cell_index(df)
        _check_duplicates(df, dims, cell)
        # leaf rows give the data; margin rows are checked afterwards
        pos = np.unravel_index(cell, t.shape)
        leaf_row = np.ones(len(cell), dtype=bool)
        for h, p in zip(hier, pos):
            leaf_row &= h.is_leaf[p]
        leaf_shape = tuple(len(h.leaves) for h in hier)
        leaf_pos = tuple(np.cumsum(h.is_leaf)[p[leaf_row]] - 1 for h, p in zip(hier, pos))
        grid = np.zeros(leaf_shape)
        np.add.at(grid, leaf_pos, counts[leaf_row])
        t.values = aggregate_leaves(grid, hier).ravel()
        t._keep_extra(df, dims, cell, skip=list(skip))
        given = counts[~leaf_row]
        if given.size:
            at = cell[~leaf_row]
            wrong = np.flatnonzero(t.values[at] != given)
            if wrong.size:
                c = at[wrong[0]]
                raise TableError(
                    f"margin {t.cell_labels([c])[0]} is {given[wrong[0]]:g} in the data but its children "
                    f"add up to {t.values[c]:g} ({wrong.size} margin(s) disagree)")
        return t

    def _keep_extra(self, df: pd.DataFrame, dims, cell: np.ndarray, skip) -> None:
        """Carry the input's other columns to the cells their rows gave; cells without an input
        row (computed margins) get a missing value, so integer and boolean columns become their
        nullable pandas types (``Int64``, ``boolean``) rather than floats."""
        cols = [c for c in df.columns if c not in set(dims) | set(skip) and not str(c).startswith("__")]
        extra = pd.DataFrame(index=pd.RangeIndex(self.n_cells))
        for c in cols:
            extra[c] = pd.Series(_nullable(df[c]).array, index=cell).reindex(extra.index)
        self.extra = extra

def _nullable(col: pd.Series) -> pd.Series:
    """``col`` in a dtype that can hold a missing value without changing the others."""
    if pd.api.types.is_bool_dtype(col.dtype) and not isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
        return col.astype("boolean")
    if pd.api.types.is_integer_dtype(col.dtype) and not isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
        name = col.dtype.name  # int64 -> Int64, uint8 -> UInt8
        return col.astype("U" + name[1:].capitalize() if name.startswith("u") else name.capitalize())
    return col


def additivity_matrix(hierarchies: Sequence[Hierarchy]) -> sp.csr_matrix:
    """The equations ``-parent + sum(children) = 0`` of a cross-classified table.

    One row per (non-leaf code of one dimension) x (any code of every other
    dimension), built with array arithmetic only.

    >>> h = Hierarchy.flat(["a", "b"])
    >>> additivity_matrix([h]).toarray()
    array([[-1.,  1.,  1.]])
    """
    shape = tuple(len(h) for h in hierarchies)
    blocks = []
    for d, h in enumerate(hierarchies):
        par, child = h.edges()
        if par.size == 0:
            continue
        internal, row_of_par = np.unique(par, return_inverse=True)
        others = [np.arange(s) for k, s in enumerate(shape) if k != d]
        n_other = int(np.prod([s for k, s in enumerate(shape) if k != d])) if others else 1
        other_grid = np.indices([s for k, s in enumerate(shape) if k != d]).reshape(len(others), -1) \
            if others else np.zeros((0, 1), np.int64)

        def cells(code_idx):
            # every (code in dim d) x (other combination) as flat cell numbers
            coords = []
            j = 0
            for k in range(len(shape)):
                if k == d:
                    coords.append(np.repeat(code_idx, n_other))
                else:
                    coords.append(np.tile(other_grid[j], code_idx.size))
                    j += 1
            return np.ravel_multi_index(tuple(coords), shape)

        row_base = np.repeat(np.arange(internal.size) * n_other, n_other) + np.tile(np.arange(n_other), internal.size)
        child_rows = np.repeat(row_of_par * n_other, n_other) + np.tile(np.arange(n_other), child.size)
        rows = np.concatenate([row_base, child_rows])
        cols = np.concatenate([cells(internal), cells(child)])
        vals = np.concatenate([-np.ones(row_base.size), np.ones(child_rows.size)])
        blocks.append(sp.csr_matrix((vals, (rows, cols)), shape=(internal.size * n_other, int(np.prod(shape)))))
    if not blocks:
        return sp.csr_matrix((0, int(np.prod(shape))))
    return sp.vstack(blocks, format="csr")


def aggregate_leaves(grid: np.ndarray, hierarchies: Sequence[Hierarchy]) -> np.ndarray:
    """Every cell of the table (shape: codes per dimension) as the sum of the finest-level
    cells below it, from ``grid`` over the leaves (shape: leaves per dimension, in code order)."""
    full = grid
    for axis, h in enumerate(hierarchies):
        full = np.moveaxis(_apply(h.leaf_aggregator(), np.moveaxis(full, axis, 0)), 0, axis)
    return full


def _grid_sum(arrays: Sequence[np.ndarray]) -> np.ndarray:
    out = np.zeros(1, dtype=np.int64)
    for a in arrays:
        out = (out[:, None] + a[None, :]).ravel()
    return out


def _apply(A: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """``A`` applied along the first axis of ``x``."""
    flat = x.reshape(x.shape[0], -1)
    return np.asarray(A @ flat).reshape((A.shape[0],) + x.shape[1:])


def _check_columns(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise TableError(f"column(s) {missing} not in the data; it has {list(df.columns)}")
    if len(set(cols)) != len(cols):
        raise TableError(f"a column is named twice in {list(cols)}")


def _check_counts(df: pd.DataFrame, count: str) -> np.ndarray:
    """Counts as floats, after checking they are non-negative integers."""
    raw = df[count]
    nums = pd.to_numeric(raw, errors="coerce")
    bad = nums.isna().to_numpy()
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise TableError(f"{rows_named(df.index, [i])}: count {show(raw.iloc[i])} in column {count!r} "
                         "is not a number")
    v = nums.to_numpy(dtype=float)
    for mask, what in ((v < 0, "negative"), (v != np.round(v), "not an integer"),
                       (~np.isfinite(v), "not finite")):
        if mask.any():
            i = np.flatnonzero(mask)[0]
            raise TableError(f"{rows_named(df.index, [i])}: count {show(raw.iloc[i])} in column {count!r} is {what}; "
                             "counts must be non-negative integers")
    return v


def _check_duplicates(df: pd.DataFrame, dims, cell: np.ndarray) -> None:
    u, first, cnt = np.unique(cell, return_index=True, return_counts=True)
    if (cnt > 1).any():
        c = u[cnt > 1][0]
        at = np.flatnonzero(cell == c)
        codes = ", ".join(f"{d}={df[d].iloc[at[0]]}" for d in dims)
        raise TableError(f"{rows_named(df.index, at)} give the same cell ({codes})")


def _check_rows(df: pd.DataFrame, dims) -> None:
    """A table needs rows, and every row a code in every dimension."""
    if len(df) == 0:
        raise TableError("the table has no rows")
    for d in dims:
        empty = (df[d].isna() | df[d].astype(str).str.strip().eq("")).to_numpy()
        if empty.any():
            at = np.flatnonzero(empty)
            raise TableError(f"{rows_named(df.index, at[:5])}{' ...' if at.size > 5 else ''}: "
                             f"no code in column {d!r}")


def _hierarchies(df, dims, hierarchies, total_code, warn_absent: bool = False) -> list[Hierarchy]:
    hierarchies = dict(hierarchies or {})
    unknown = set(hierarchies) - set(dims)
    if unknown:
        raise TableError(f"hierarchies given for {sorted(unknown)}, which are not among dims {list(dims)}")
    out = []
    for d in dims:
        col = df[d].map(as_code)
        if d in hierarchies:
            h = Hierarchy.coerce(hierarchies[d], name=d)
            h.check_codes(col.unique(), d)
            if warn_absent:
                present = set(col.unique())
                absent = [c for c in h.leaves if c not in present]
                if absent:
                    # likely a hierarchy of other data, or codes spelt differently: say so
                    warnings.warn(f"{len(absent)} code(s) of the hierarchy of {d!r} have no row in the data and "
                                  f"count as 0: {some(absent)}", UserWarning, stacklevel=4)
        else:
            h = Hierarchy.flat(col.unique(), total=total_code, name=d)
        out.append(h)
    return out


def _check_margins(t: Table) -> None:
    """In a published table, equations with every cell known must hold."""
    res = t.residuals()
    bad = np.flatnonzero(np.abs(np.nan_to_num(res, nan=0.0)) > 1e-9)
    if bad.size:
        r = bad[0]
        row = t.M.getrow(r)
        par = row.indices[row.data < 0]
        total = t.values[par].sum()
        raise TableError(
            f"equation {t.equation_label(r)} does not hold: the margin is {total:g} but its "
            f"children add up to {total + res[r]:g} ({bad.size} equation(s) disagree)")
