"""A table's cells laid out as crosstabs: the grid both views (HTML page, PNG picture) draw.

Two dimensions make one crosstab (rows: the first, columns: the second). A table of three or
more dimensions is cut into one crosstab per combination of codes of the dimensions it is sliced
by (``slice_by``; by default every dimension but the last two), totals included, so every cell
appears exactly once. Codes keep their hierarchy's order (each total before its children).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..errors import CellSuppressError
from ..tables.linear import LinearTable


@dataclass
class Axis:
    """One side of a crosstab: its dimension, codes, depth in the hierarchy, and which are totals."""

    name: str
    labels: list[str]
    depth: np.ndarray
    margin: np.ndarray  # the code is a total or subtotal (not a leaf)


@dataclass
class Crosstab:
    """``cells[i, j]`` is the cell number at row ``i`` and column ``j``; ``caption`` names the slice."""

    caption: str
    rows: Axis
    columns: Axis
    cells: np.ndarray


def crosstabs(table: LinearTable, slice_by=None) -> list[Crosstab]:
    """The crosstabs that show every cell of ``table`` once (see the module's docstring)."""
    dims = getattr(table, "dims", None)
    if not dims:
        if slice_by:
            raise CellSuppressError("slice_by needs a table with dimensions")
        return [_cell_list(table)]
    sliced = _slice_dims(dims, slice_by)
    shown = [d for d in range(len(dims)) if d not in sliced]
    hier = table.hierarchies
    axes = [_axis(dims[d], hier[d]) for d in shown]
    if len(axes) == 1:
        axes.append(Axis("", [""], np.zeros(1, np.int64), np.zeros(1, bool)))
    out = []
    for combo in itertools.product(*[range(len(hier[d])) for d in sliced]):
        coords: list = [None] * len(dims)
        for d, i in zip(sliced, combo):
            coords[d] = i
        grid = np.meshgrid(*[np.arange(len(hier[d])) for d in shown], indexing="ij")
        for d, g in zip(shown, grid):
            coords[d] = g
        cells = np.ravel_multi_index(tuple(np.broadcast_arrays(*coords)), table.shape)
        if cells.ndim == 1:
            cells = cells[:, None]
        caption = ", ".join(f"{dims[d]} = {hier[d].codes[i]}" for d, i in zip(sliced, combo))
        out.append(Crosstab(caption, axes[0], axes[1], cells))
    return out


def _axis(name: str, h) -> Axis:
    return Axis(name, list(h.codes), np.asarray(h.depth), ~np.asarray(h.is_leaf))


def _slice_dims(dims: list[str], slice_by) -> list[int]:
    if slice_by is None:
        return list(range(max(0, len(dims) - 2)))
    names = [slice_by] if isinstance(slice_by, str) else list(slice_by)
    unknown = [n for n in names if n not in dims]
    if unknown:
        raise CellSuppressError(f"slice_by: {', '.join(map(repr, unknown))} is not a dimension "
                                f"({', '.join(dims)})")
    idx = sorted({dims.index(n) for n in names})
    left = len(dims) - len(idx)
    if not 1 <= left <= 2:
        raise CellSuppressError(
            f"slice_by must leave one or two dimensions for the rows and columns; {', '.join(names) or 'none'} "
            f"of {', '.join(dims)} leaves {left}")
    return idx


def _cell_list(table: LinearTable) -> Crosstab:
    """A table without dimensions (a linear system): one row per cell; totals are the cells that
    are the sum side of an equation."""
    n = table.n_cells
    total = np.zeros(n, dtype=bool)
    M = table.M.tocoo()
    total[M.col[M.data < 0]] = True
    rows = Axis("cell", [str(i) for i in range(n)], np.zeros(n, np.int64), total)
    return Crosstab("", rows, Axis("", ["value"], np.zeros(1, np.int64), np.zeros(1, bool)),
                    np.arange(n)[:, None])
