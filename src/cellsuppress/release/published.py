"""The table as published: a marker for every hidden count, and percentages that keep the audit's word.

A percentage is derived data: ``count / denominator * 100``. Published where its count or its
denominator is hidden, it would give the hidden one back (from the other one and the
percentage). So a percentage is published only where its count **and** its denominator are both
published; it is then computable from published cells alone, and the audit of the counts covers it.

Which cell is a cell's denominator (``percent=``), for a table with dimensions ``d_1 .. d_n``:

* ``"row"``: the total over the LAST dimension: the cell with the same codes except ``d_n`` at its
  root (in a 2-way table with rows ``d_1`` and columns ``d_2``, the row's margin);
* ``"column"``: the total over the FIRST dimension (``d_1`` at its root: the column's margin);
* ``"total"``: the grand total (every dimension at its root);
* a dimension name, or a list of them: the total over those dimensions (each at its root).

Totals are over the dimension's root, also in hierarchies: with a region hierarchy and
``percent="column"``, a county's percentage is its share of the whole column, not of its region.
Percentages are rounded half up to ``decimals`` places; where the denominator is 0 the percentage
is undefined (NaN, an empty field in a CSV file).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import CellSuppressError
from ..tables.linear import LinearTable

PERCENT_KINDS = ("row", "column", "total")
PERCENT_COLUMN = "percent"


def whole_as_int(values) -> pd.Series:
    """Numbers as integers when every one is whole (counts print as ``12``, not ``12.0``)."""
    v = pd.to_numeric(pd.Series(values), errors="coerce")
    if v.notna().all() and (v == np.round(v)).all():
        return v.astype("int64")
    return v


def cells_frame(status_frame: pd.DataFrame, table) -> pd.DataFrame:
    """Every cell with its codes, value, status and ``hidden`` flag, in that order, then the input's
    other columns (empty for cells without an input row, e.g. computed margins): what
    ``cellsuppress protect -o`` writes."""
    out = status_frame.copy()
    for d in table.dims:
        out[d] = out[d].astype(str)
    out["value"] = whole_as_int(out["value"]).to_numpy()
    out["hidden"] = out["status"].ne("published")
    first = list(table.dims) + ["value", "status", "hidden"]
    out = out[first + [c for c in out.columns if c not in first]]
    extra = getattr(table, "extra", None)
    if extra is not None:
        # a status or hidden column of an earlier run's output is replaced by this run's
        for c in extra.columns:
            if c not in out:
                out[c] = extra[c].array
    return out


def published(table: LinearTable, hidden, marker: str = "*", count: str = "value", percent=None,
              decimals: int = 1) -> pd.DataFrame:
    """The table as published: one row per cell with its codes and ``count``, ``marker`` where hidden.

    ``hidden``: a boolean array aligned to the table's cells (``Result.hidden``); ``None`` for a table
    read with its markers (:meth:`Table.from_published`).

    With ``percent`` (see the module's docstring) a column ``percent`` follows: the cell's
    percentage of its denominator, ``marker`` where the count or the denominator is hidden.

    >>> import pandas as pd, cellsuppress as cs
    >>> df = pd.DataFrame({"r": list("aabb"), "c": list("xyxy"), "n": [3, 40, 25, 30]})
    >>> t = cs.Table.from_frame(df, dims=["r", "c"], count="n")
    >>> hidden = t.frame.eval("r != 'Total' and c != 'Total'").to_numpy()
    >>> published(t, hidden, count="n", percent="row").head(3)
           r      c   n percent
    0  Total  Total  98   100.0
    1  Total      x  28    28.6
    2  Total      y  70    71.4
    """
    if table is None:
        raise CellSuppressError("no table to publish (a Result made by protect() carries its table)")
    hidden = _hidden_mask(table, hidden)
    labels = _labels(table)
    if count in labels.columns:
        raise CellSuppressError(f"count column name {count!r} is also a dimension's name")
    out = labels.copy()
    shown = ~hidden
    counts = table.values.astype(object)
    counts[shown] = whole_as_int(table.values[shown]).to_numpy()
    out[count] = _with_marker(counts, shown, marker)
    if percent is not None:
        if PERCENT_COLUMN in out.columns[:-1]:
            raise CellSuppressError(f"a dimension is named {PERCENT_COLUMN!r}, the name of the percentage column")
        den = denominators(table, percent)
        pct, defined = percentages(table.values, den, decimals)
        pct_shown = shown & shown[den]
        pct = pct.astype(object)
        if decimals == 0:  # whole percentages print as 17, not 17.0
            pct[defined] = pct[defined].astype(np.int64)
        out[PERCENT_COLUMN] = _with_marker(pct, pct_shown, marker)
    return out


def denominators(table: LinearTable, percent) -> np.ndarray:
    """Per cell, the number of the cell its percentage is of (see the module's docstring)."""
    dims = getattr(table, "dims", None)
    if not dims:
        raise CellSuppressError("percentages need a table with dimensions (from Table.from_frame), "
                                "not a table given only as a linear system")
    over = _percent_dims(dims, percent)
    coords = list(np.unravel_index(np.arange(table.n_cells), table.shape))
    for d in over:
        h = table.hierarchies[d]
        coords[d] = np.full(table.n_cells, h.index[h.root])
    return np.ravel_multi_index(tuple(coords), table.shape)


def percentages(values: np.ndarray, den: np.ndarray, decimals: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``values / values[den] * 100`` rounded half up to ``decimals`` places, and where it is defined
    (denominator not 0)."""
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)) or decimals < 0:
        raise CellSuppressError(f"decimals must be a whole number >= 0, got {decimals!r}")
    scale = 10.0 ** int(decimals)
    num = np.asarray(values, dtype=float)
    d = num[den]
    defined = d != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # the numerator count * 100 * 10**decimals is an exact integer, so a tie (x.5) stays exact
        raw = num * (100.0 * scale) / np.where(defined, d, 1.0)
    pct = np.floor(raw + 0.5) / scale
    return np.where(defined, pct, np.nan), defined


def _percent_dims(dims: list[str], percent) -> list[int]:
    if isinstance(percent, str):
        if percent in PERCENT_KINDS:
            if percent in dims:
                raise CellSuppressError(
                    f"percent={percent!r} is ambiguous: a dimension has that name; pass "
                    f"percent=[{percent!r}] for the dimension or rename it")
            return {"row": [len(dims) - 1], "column": [0], "total": list(range(len(dims)))}[percent]
        names = [percent]
    else:
        try:
            names = list(percent)
        except TypeError:
            names = None
        if not names or not all(isinstance(n, str) for n in names):
            raise CellSuppressError(
                f"percent must be one of {', '.join(PERCENT_KINDS)}, a dimension name or a list of them; "
                f"got {percent!r}")
    unknown = [n for n in names if n not in dims]
    if unknown:
        raise CellSuppressError(
            f"percent: {', '.join(map(repr, unknown))} is neither one of {', '.join(PERCENT_KINDS)} nor a "
            f"dimension ({', '.join(dims)})")
    return sorted({dims.index(n) for n in names})


def _hidden_mask(table: LinearTable, hidden) -> np.ndarray:
    if hidden is None and table.hidden is not None:  # a table read as published, with markers
        hidden = table.hidden
    h = np.asarray(hidden)
    if h.dtype != bool or h.shape != (table.n_cells,):
        raise CellSuppressError(
            f"hidden must be a boolean array with one entry per cell ({table.n_cells}); "
            f"got {h.dtype} of shape {h.shape}")
    if np.isnan(table.values[~h]).any():
        bad = np.flatnonzero(~h & np.isnan(table.values))
        raise CellSuppressError(f"published cells without a value: {', '.join(table.cell_labels(bad[:5]))}")
    return h


def _labels(table: LinearTable) -> pd.DataFrame:
    if table.labels is not None:
        return table.labels.astype(str).reset_index(drop=True)
    return pd.DataFrame({"cell": np.arange(table.n_cells)})


def _with_marker(values: np.ndarray, shown: np.ndarray, marker: str) -> np.ndarray:
    out = np.asarray(values).astype(object)
    out[~shown] = marker
    return out
