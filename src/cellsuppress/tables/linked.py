"""Linked tables: several tables of one population, as one linear system.

A paper reports age x sex, age x race and sex x race of one cohort; those tables share their
margins (the age totals appear in the first two), and an attacker reads all of them together.
:class:`LinkedTables` makes them one :class:`~cellsuppress.tables.linear.LinearTable` over the
union of their cells, so that protect and audit see the attacker's whole system.

Two cells of different tables are the same cell when they have the same code in every
dimension of either table, a dimension that a table lacks counting as its root (its total):
``(age=0-17, sex=Total)`` of age x sex is ``(age=0-17, race=Total)`` of age x race. The joint
table's cells are the distinct code tuples over the union of the dimensions (a table's cells
first, in the order of the tables), its equations those of every table mapped to the joint
cells, each equation once. A dimension shared by two tables must have the same hierarchy, and
a shared cell the same value in every table that has it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import HierarchyError, TableError
from .hierarchy import Hierarchy
from .linear import LinearTable
from .messages import some
from .table import Table


class LinkedTables(LinearTable):
    """The tables of ``tables`` (each a :class:`~cellsuppress.tables.table.Table`) as one table.

    ``cells[i]`` is the joint cell of every cell of ``tables[i]`` (aligned to its ``frame``);
    ``dims`` and ``hierarchies`` are the union of the tables' dimensions, in order of first
    appearance; ``codes`` is the code index of every joint cell per dimension (a dimension a
    table lacks at its root). Values unknown in one table (a published table's hidden cells)
    are taken from a table that shows them.

    >>> import pandas as pd
    >>> people = pd.DataFrame({"age": ["young", "old", "old"], "sex": ["F", "F", "M"],
    ...                        "race": ["a", "b", "b"]})
    >>> t1 = Table.from_microdata(people, dims=["age", "sex"])
    >>> t2 = Table.from_microdata(people, dims=["age", "race"])
    >>> joint = LinkedTables([t1, t2])
    >>> t1.n_cells, t2.n_cells, joint.n_cells      # the age margin (3 cells) is shared
    (9, 9, 15)
    >>> joint.frame.iloc[joint.cells[1][:3]]
          age    sex   race  value
    0   Total  Total  Total    3.0
    9   Total  Total      a    1.0
    10  Total  Total      b    2.0
    """

    def __init__(self, tables: Sequence[Table]):
        tables = _check_tables(tables)
        self.tables = tables
        self.names = [f"table {i + 1} ({' x '.join(t.dims)})" for i, t in enumerate(tables)]
        self.dims, self.hierarchies = _union_dims(tables, self.names)
        tuples = [self._codes_of(t) for t in tables]
        codes, cells = _distinct_rows(tuples)
        self.codes = codes
        self.cells = cells
        n = codes.shape[0]
        self.labels = pd.DataFrame({  # first: the checks below name cells
            d: pd.Categorical.from_codes(codes[:, j], categories=h.codes)
            for j, (d, h) in enumerate(zip(self.dims, self.hierarchies))})
        M, rhs = _joint_equations([t.M for t in tables], [t.rhs for t in tables], cells, n)
        values = self.join([t.values for t in tables], "value")
        lb = self.join([t.lb for t in tables], "lower bound", how="max")
        ub = self.join([t.ub for t in tables], "upper bound", how="min")
        bad = np.flatnonzero(lb > ub)
        if bad.size:
            raise TableError(f"the tables' bounds of {self.cell_labels_of(bad[:1])[0]} leave no value: "
                             f"lower bound {lb[bad[0]]:g} above upper bound {ub[bad[0]]:g}")
        depth = self.join([np.asarray(t.depth, float) for t in tables], "depth", how="max").astype(np.int64)
        super().__init__(values=values, M=M, rhs=rhs, lb=lb, ub=ub, depth=depth, labels=self.labels)
        known_hidden = [t.hidden for t in tables]
        if all(h is not None for h in known_hidden):  # published tables: hidden where no table shows it
            self.hidden = self.join([h for h in known_hidden], "hidden", how="all")

    # -- views -------------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        """One row per joint cell: its codes over every dimension and ``value``."""
        f = self.labels.astype(str)
        f["value"] = self.values
        return f

    def cell_labels_of(self, idx) -> list[str]:
        """Names of joint cells for messages, with the tables that hold them."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        held = self._holders(idx)
        return [f"{lab} of {', '.join(self.names[i] for i in np.flatnonzero(h))}"
                for lab, h in zip(self.cell_labels(idx), held)]

    def nonzero_floor(self) -> np.ndarray:
        """Each table's floor (non-zero finest cells below each cell); a shared cell takes the
        largest, which an attacker who reads every table knows."""
        return self.join([t.nonzero_floor() for t in self.tables], "floor", how="max")

    # -- per-table arrays <-> joint arrays ----------------------------------
    def join(self, arrays: Sequence, what: str, how: str = "same") -> np.ndarray:
        """One joint array from one array per table (aligned to that table's cells).

        ``how``: ``"same"``, a shared cell must have the same value in every table that knows it
        (NaN is unknown; different values raise :class:`TableError` naming the cell and the
        tables); ``"any"``/``"all"`` for flags; ``"max"``/``"min"`` for bounds.
        """
        if len(arrays) != len(self.tables):
            raise TableError(f"{what}: {len(arrays)} arrays given for {len(self.tables)} linked tables")
        n = self.codes.shape[0]
        arrays = [self._aligned(a, i, what) for i, a in enumerate(arrays)]
        if how in ("any", "all"):
            out = np.full(n, how == "all")
            for c, a in zip(self.cells, arrays):
                if how == "any":
                    out[c] |= a.astype(bool)
                else:
                    out[c] &= a.astype(bool)
            return out
        if how in ("max", "min"):
            out = np.full(n, -np.inf if how == "max" else np.inf)
            for c, a in zip(self.cells, arrays):
                (np.maximum if how == "max" else np.minimum).at(out, c, a.astype(float))
            return out
        out = np.full(n, np.nan)
        src = np.full(n, -1)
        for i, (c, a) in enumerate(zip(self.cells, arrays)):
            a = a.astype(float)
            fill = np.isnan(out[c]) & ~np.isnan(a)
            out[c[fill]] = a[fill]
            src[c[fill]] = i
        for i, (c, a) in enumerate(zip(self.cells, arrays)):
            a = a.astype(float)
            clash = np.flatnonzero(~np.isnan(a) & (a != out[c]) & ~np.isnan(out[c]))
            if clash.size:
                k = c[clash[0]]
                raise TableError(
                    f"cell {self.cell_labels([k])[0]} has {what} {a[clash[0]]:g} in {self.names[i]} but "
                    f"{out[k]:g} in {self.names[src[k]]} ({clash.size} cell(s) of {self.names[i]} disagree); "
                    "linked tables must come from one population")
        return out

    def per_table(self, x, what: str) -> list:
        """A parameter as one entry per table: a list or tuple gives them (one per table); anything
        else (None, a number, a column name) applies to every table. Per-cell arrays must come in
        a list, since tables differ in their cells."""
        n = len(self.tables)
        if isinstance(x, (list, tuple)):
            if len(x) != n:
                raise TableError(f"{what}: {len(x)} entries for {n} linked tables; give one per table")
            return list(x)
        if isinstance(x, (np.ndarray, pd.Series, pd.DataFrame)):
            raise TableError(f"{what}: give a list with one entry per linked table ({n}), each aligned to "
                             "its table's frame")
        return [x] * n

    def split(self, joint: np.ndarray) -> list[np.ndarray]:
        """A joint array as one array per table, aligned to each table's cells."""
        joint = np.asarray(joint)
        return [joint[c] for c in self.cells]

    def mixed(self, flags: Sequence[np.ndarray]) -> np.ndarray:
        """Joint cells that one table flags and another, holding the same cell, does not."""
        return self.join(flags, "flag", how="any") & ~self.join(flags, "flag", how="all")

    # -- internals -----------------------------------------------------------
    def _codes_of(self, t: Table) -> np.ndarray:
        """Every cell of ``t`` as code indices over the union of dimensions (missing ones at the root)."""
        own = np.indices(t.shape).reshape(len(t.shape), -1)
        cols = []
        for d, h in zip(self.dims, self.hierarchies):
            if d in t.dims:
                j = t.dims.index(d)
                to_union = np.array([h.index[c] for c in t.hierarchies[j].codes], dtype=np.int64)
                cols.append(to_union[own[j]])
            else:
                cols.append(np.full(t.n_cells, h.index[h.root], dtype=np.int64))
        return np.stack(cols, axis=1) if cols else np.zeros((t.n_cells, 0), np.int64)

    def _holders(self, idx: np.ndarray) -> np.ndarray:
        """(len(idx), tables) booleans: which tables hold each joint cell."""
        out = np.zeros((idx.size, len(self.tables)), dtype=bool)
        for i, c in enumerate(self.cells):
            inside = np.zeros(self.codes.shape[0], dtype=bool)
            inside[c] = True
            out[:, i] = inside[idx]
        return out

    def _aligned(self, a, i: int, what: str) -> np.ndarray:
        a = np.asarray(a)
        if a.shape != (self.tables[i].n_cells,):
            raise TableError(f"{what} for {self.names[i]} has {a.size} entries but the table has "
                             f"{self.tables[i].n_cells} cells")
        return a


def _check_tables(tables) -> list[Table]:
    tables = list(tables)
    if not tables:
        raise TableError("no tables given: linked tables need at least one")
    for i, t in enumerate(tables):
        if not isinstance(t, Table):
            raise TableError(f"linked table {i + 1} is a {type(t).__name__}; linked tables are Tables with "
                             "dimensions (Table.from_frame or Table.from_microdata), whose codes say which "
                             "cells they share")
    return tables


def _union_dims(tables: list[Table], names: list[str]) -> tuple[list[str], list[Hierarchy]]:
    """The dimensions of all tables in order of first appearance, each with its one hierarchy."""
    dims: list[str] = []
    hier: list[Hierarchy] = []
    first: list[int] = []
    for i, t in enumerate(tables):
        for d, h in zip(t.dims, t.hierarchies):
            if d not in dims:
                dims.append(d)
                hier.append(h)
                first.append(i)
                continue
            j = dims.index(d)
            why = _hierarchy_difference(hier[j], h)
            if why:
                raise HierarchyError(f"dimension {d!r} has different hierarchies in {names[first[j]]} and "
                                     f"{names[i]}: {why}; a dimension shared by linked tables needs one hierarchy")
    return dims, hier


def _hierarchy_difference(a: Hierarchy, b: Hierarchy) -> str:
    """What differs between two hierarchies (the order of codes aside); empty when they are the same."""
    if a.root != b.root:
        return f"totals {a.root!r} and {b.root!r}"
    only_a = [c for c in a.codes if c not in b.index]
    only_b = [c for c in b.codes if c not in a.index]
    if only_a or only_b:
        parts = ([f"codes only in the first: {some(only_a)}"] if only_a else []) + \
                ([f"codes only in the second: {some(only_b)}"] if only_b else [])
        return "; ".join(parts)
    moved = [c for c in a.codes if a.parent_of(c) != b.parent_of(c)]
    if moved:
        return f"codes under different parents: {some(moved)}"
    return ""


def _distinct_rows(tuples: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct rows of the stacked code tuples, in order of first appearance, and each
    table's rows as indices into them."""
    allrows = np.concatenate(tuples, axis=0)
    uniq, first, inverse = np.unique(allrows, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    joint = rank[np.asarray(inverse).ravel()]
    bounds = np.cumsum([0] + [t.shape[0] for t in tuples])
    return uniq[order], [joint[bounds[i]:bounds[i + 1]] for i in range(len(tuples))]


def _joint_equations(Ms, rhss, cells, n) -> tuple[sp.csr_matrix, np.ndarray]:
    """Every table's equations on the joint cells, each distinct equation once (the margins two
    tables share give the same equation twice)."""
    blocks = []
    for M, c in zip(Ms, cells):
        coo = sp.coo_matrix(M)
        blocks.append(sp.csr_matrix((coo.data, (coo.row, c[coo.col])), shape=(M.shape[0], n)))
    M = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, n))
    M.sum_duplicates()
    M.sort_indices()
    rhs = np.concatenate([np.asarray(r, float) for r in rhss]) if rhss else np.zeros(0)
    keep = ~_repeated_rows(M, rhs)
    return M[keep], rhs[keep]


def _repeated_rows(M: sp.csr_matrix, rhs: np.ndarray) -> np.ndarray:
    """Rows equal (entries and right-hand side) to an earlier row. Rows are grouped by a random
    projection, and each is compared exactly with the first of its group, so a row is marked
    only when it is an exact repeat."""
    m = M.shape[0]
    if m < 2:
        return np.zeros(m, dtype=bool)
    proj = M @ np.random.default_rng(0).random(M.shape[1]) + 1e3 * rhs
    nnz = np.diff(M.indptr)
    order = np.lexsort((np.arange(m), proj, nnz))
    same = (nnz[order][1:] == nnz[order][:-1]) & (proj[order][1:] == proj[order][:-1])
    group = np.concatenate([[0], np.cumsum(~same)])
    head = order[np.flatnonzero(np.concatenate([[True], ~same]))][group]  # first row of each one's group
    cand = np.flatnonzero(head != order)
    rows, heads = order[cand], head[cand]
    diff = M[rows] - M[heads]
    diff.eliminate_zeros()
    equal = (np.diff(diff.indptr) == 0) & (rhs[rows] == rhs[heads])
    out = np.zeros(m, dtype=bool)
    out[rows[equal]] = True
    return out
